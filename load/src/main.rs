//! `collabzium-load`: the sync benchmarks of ADR 0006 §11.
//!
//! ```text
//! collabzium-load embedded --checkins 10000
//! collabzium-load postgres --database postgres://postgres@127.0.0.1:PORT/postgres \
//!     --relays 2 --devices 50 --seconds 20 --collabzium-bin target/release/collabzium
//! ```
//!
//! Each prints a human summary on stderr and one JSON object on stdout.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod embedded;
mod postgres;

#[derive(Parser)]
#[command(
    name = "collabzium-load",
    about = "Sync and relay benchmarks (ADR 0006 §11)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// N check-ins patient → therapist through an in-process SQLite relay
    /// over loopback HTTP, against the local write path of the same N.
    #[command(alias = "e2e")]
    Embedded {
        #[arg(long, default_value_t = 10_000, alias = "events")]
        checkins: usize,
        /// Keep the stores and the relay database in this directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// `collabzium relay serve` processes on one PostgreSQL database and
    /// simulated devices pushing one envelope per signed request.
    #[command(alias = "relay")]
    Postgres {
        /// A cluster URL; the run creates (and drops) its own database there.
        #[arg(long, env = "COLLABZIUM_LOAD_PG_URL")]
        database: String,
        #[arg(long, default_value_t = 2, alias = "processes")]
        relays: usize,
        /// Simulated devices, two per channel (therapist and patient).
        #[arg(long, default_value_t = 50)]
        devices: usize,
        /// Measured seconds, after the warm-up.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        warmup: u64,
        /// The relay binary (`cargo build --release -p collabzium-cli`);
        /// default: `collabzium` next to this binary.
        #[arg(long)]
        collabzium_bin: Option<PathBuf>,
        /// Event payload size before sealing (PADMÉ padding, header and tag are added).
        #[arg(long, default_value_t = 556)]
        payload_bytes: usize,
        /// Tokio worker threads of the load generator.
        #[arg(long, default_value_t = 2)]
        client_threads: usize,
        #[arg(long)]
        keep_database: bool,
        /// Each device fetches and acks its queue this often, in ms (0: never).
        #[arg(long, default_value_t = 1000)]
        drain_every_ms: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Embedded { checkins, keep } => {
            embedded::run(embedded::Args { checkins, keep }).map(|v| (embedded::summary(&v), v))
        }
        Cmd::Postgres {
            database,
            relays,
            devices,
            seconds,
            warmup,
            collabzium_bin,
            payload_bytes,
            client_threads,
            keep_database,
            drain_every_ms,
        } => {
            let collabzium_bin = collabzium_bin.unwrap_or_else(|| {
                std::env::current_exe()
                    .ok()
                    .and_then(|p| p.parent().map(|d| d.join("collabzium")))
                    .unwrap_or_else(|| PathBuf::from("collabzium"))
            });
            postgres::run(postgres::Args {
                database,
                relays,
                devices,
                seconds,
                warmup,
                collabzium_bin,
                payload_bytes,
                client_threads,
                keep_database,
                drain_ms: drain_every_ms,
            })
            .map(|v| (postgres::summary(&v), v))
        }
    };
    match result {
        Ok((human, json)) => {
            eprintln!("{human}");
            println!("{json}");
        }
        Err(e) => {
            eprintln!("collabzium-load: {e}");
            std::process::exit(1);
        }
    }
}
