//! `collabzium`: the demo, store operations and a headless client.
//!
//! Every command prints one clear line on error and exits non-zero; with
//! `--json` it prints `{"error":{"code":..,"message":..}}` with a stable code.

mod charts;
mod commands;
mod output;
mod passphrase;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::Output;

#[derive(Parser)]
#[command(
    name = "collabzium",
    version,
    about = "Collabzium: open core for internet-based psychological treatment"
)]
struct Cli {
    /// Path of the encrypted patient store.
    #[arg(long, global = true, env = "COLLABZIUM_STORE")]
    store: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the end-to-end demo on embedded defaults.
    Demo(commands::demo::DemoArgs),
    /// Create, inspect, export, rekey or erase a store.
    #[command(subcommand)]
    Store(commands::store::StoreCommand),
    /// Encrypted backups under the recovery key, and restore into a new store.
    #[command(subcommand)]
    Backup(commands::backup::BackupCommand),
    /// Show or set the patient profile.
    #[command(subcommand)]
    Profile(commands::profile::ProfileCommand),
    /// Grant, withdraw or list consent.
    #[command(subcommand)]
    Consent(commands::consent::ConsentCommand),
    /// Expand an RFC 5545 rule in an IANA zone.
    #[command(subcommand)]
    Schedule(commands::schedule::ScheduleCommand),
    /// Validate a program file.
    #[command(subcommand)]
    Program(commands::schedule::ProgramCommand),
    #[command(flatten)]
    Agenda(commands::agenda::AgendaCommand),
    /// List, show or score instruments.
    #[command(subcommand)]
    Instrument(commands::instrument::InstrumentCommand),
    /// Start, answer, submit and list check-ins.
    #[command(subcommand)]
    Checkin(commands::checkin::CheckinCommand),
    /// Export check-ins (FHIR R4).
    #[command(subcommand)]
    Export(commands::export::ExportCommand),
    /// Run the sync relay server.
    #[command(subcommand)]
    Relay(commands::relay::RelayCommand),
    /// Therapist side of sync: invite, inbox, approvals, availability.
    #[command(subcommand)]
    Therapist(commands::sync::TherapistCommand),
    /// Patient side of sync: join with a code, delivery status.
    #[command(subcommand)]
    Patient(commands::sync::PatientCommand),
    /// Send and receive everything due with the relay; or register this
    /// device's push endpoint for wake-ups.
    Sync {
        #[command(subcommand)]
        cmd: Option<commands::push::SyncCommand>,
    },
    /// Send or list messages.
    #[command(subcommand)]
    Message(commands::sync::MessageCommand),
    /// Revoke a channel on both sides and at the relay.
    Unpair {
        #[arg(long)]
        channel: Option<String>,
    },
    /// List this store's sync channels.
    Channels,
    /// Research view: export the de-identified research CSV and analyse it.
    #[command(subcommand)]
    Research(commands::research::ResearchCommand),
    /// The therapist's workstation: a local web app over this store, on loopback.
    Workstation(commands::workstation::WorkstationArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(&out, args),
        Command::Store(cmd) => commands::store::run(&out, cli.store.as_deref(), cmd),
        Command::Backup(cmd) => commands::backup::run(&out, cli.store.as_deref(), cmd),
        Command::Profile(cmd) => commands::profile::run(&out, cli.store.as_deref(), cmd),
        Command::Consent(cmd) => commands::consent::run(&out, cli.store.as_deref(), cmd),
        Command::Schedule(cmd) => commands::schedule::run_schedule(&out, cmd),
        Command::Program(cmd) => commands::schedule::run_program(&out, cmd),
        Command::Agenda(cmd) => commands::agenda::run(&out, cli.store.as_deref(), cmd),
        Command::Instrument(cmd) => commands::instrument::run(&out, cmd),
        Command::Checkin(cmd) => commands::checkin::run(&out, cli.store.as_deref(), cmd),
        Command::Export(cmd) => commands::export::run(&out, cli.store.as_deref(), cmd),
        Command::Research(cmd) => commands::research::run(&out, cli.store.as_deref(), cmd),
        Command::Relay(cmd) => commands::relay::run(cmd),
        Command::Therapist(cmd) => commands::sync::run_therapist(&out, cli.store.as_deref(), cmd),
        Command::Patient(cmd) => commands::sync::run_patient(&out, cli.store.as_deref(), cmd),
        Command::Sync { cmd: None } => commands::sync::run_sync(&out, cli.store.as_deref()),
        Command::Sync { cmd: Some(cmd) } => commands::push::run(&out, cli.store.as_deref(), cmd),
        Command::Message(cmd) => commands::sync::run_message(&out, cli.store.as_deref(), cmd),
        Command::Unpair { channel } => {
            commands::sync::run_unpair(&out, cli.store.as_deref(), channel.as_deref())
        }
        Command::Channels => commands::sync::run_channels(&out, cli.store.as_deref()),
        Command::Workstation(args) => commands::workstation::run(&out, cli.store.as_deref(), args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::FAILURE
        }
    }
}
