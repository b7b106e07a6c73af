//! Where passphrases come from: the environment for scripts, a prompt on a terminal.

use std::io::IsTerminal;

use collabzium_core::crypto::PassphraseKeyProvider;
use collabzium_core::{Error, Result};

pub const ENV: &str = "COLLABZIUM_PASSPHRASE";
pub const NEW_ENV: &str = "COLLABZIUM_NEW_PASSPHRASE";

fn read(env: &str, prompt: &str, confirm: bool) -> Result<String> {
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "passphrase",
            format!("set {env} or run on a terminal"),
        ));
    }
    let p = rpassword::prompt_password(prompt).map_err(Error::from)?;
    if confirm {
        let again = rpassword::prompt_password("Repeat passphrase: ").map_err(Error::from)?;
        if again != p {
            return Err(Error::invalid("passphrase", "the two entries differ"));
        }
    }
    Ok(p)
}

fn checked(p: String) -> Result<PassphraseKeyProvider> {
    if p.chars().count() < 8 {
        return Err(Error::invalid(
            "passphrase",
            "must be at least 8 characters",
        ));
    }
    Ok(PassphraseKeyProvider::new(p))
}

/// The passphrase of an existing store.
pub fn current() -> Result<PassphraseKeyProvider> {
    Ok(PassphraseKeyProvider::new(read(
        ENV,
        "Store passphrase: ",
        false,
    )?))
}

/// A passphrase for a new store (confirmed on a terminal).
pub fn for_new_store() -> Result<PassphraseKeyProvider> {
    checked(read(ENV, "New store passphrase: ", true)?)
}

/// The replacement passphrase for `store rekey`.
pub fn replacement() -> Result<PassphraseKeyProvider> {
    checked(read(NEW_ENV, "New passphrase: ", true)?)
}
