//! The `mqshim` command.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mqshim", version, about = "Trace, constrain and emulate Linux message queues")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the library version and the backend the environment selects.
    Info,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => {
            let (config, problems) = mqshim::config::Config::from_env();
            mqshim::config::report(&problems);
            println!("mqshim {}", env!("CARGO_PKG_VERSION"));
            println!("backend: {}", config.backend.name());
        }
    }
}
