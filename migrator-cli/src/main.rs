//! `migrator`: parses the command line, builds a `Migration` from migrator-core, renders its
//! progress and reports, and maps errors to exit codes (0 ok, 1 failure, 2 usage or
//! configuration, 3 verification mismatch, 130 stopped by Ctrl-C). No SQL here.

#[cfg(feature = "demo")]
mod demo;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use migrator_core::{Config, Error, ErrorKind, Migration, Profile, VerifyLevel};

#[derive(Parser)]
#[command(
    name = "migrator",
    version,
    about = "Move a live PostgreSQL database onto RDS or Aurora DSQL, and prove nothing was lost."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Say what a copy would do: tables, chunks, DDL, findings. Changes nothing.
    Plan {
        #[command(flatten)]
        common: Common,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Create the schema and copy the data; re-run to resume after any interruption.
    Copy {
        #[command(flatten)]
        common: Common,
        /// Parallel workers (default: CPUs).
        #[arg(long)]
        jobs: Option<usize>,
        /// Discard what an earlier unfinished run left in the target and start over.
        #[arg(long)]
        restart: bool,
    },
    /// Bring a copied target up to date with the source: only what changed moves.
    Sync {
        #[command(flatten)]
        common: Common,
        /// Parallel workers (default: CPUs).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Compare source and target table by table; exit 3 on any mismatch.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
        /// Compare every row (a hash per row on each side, differing keys listed), and read
        /// back every blob object whose SHA-256 the store does not vouch for.
        #[arg(long)]
        checksums: bool,
    },
    /// Run the whole product on throwaway local databases: plan, copy, sync, verify.
    #[cfg(feature = "demo")]
    Demo,
}

#[derive(Args)]
struct Common {
    /// Source database URL.
    #[arg(long, env = "SOURCE_DATABASE_URL", hide_env_values = true)]
    source: Option<String>,
    /// Target database URL.
    #[arg(long, env = "TARGET_DATABASE_URL", hide_env_values = true)]
    target: Option<String>,
    /// Config file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Target profile: postgres or dsql (default: dsql for *.dsql.<region>.on.aws hosts).
    #[arg(long)]
    profile: Option<String>,
    /// Load into an existing schema instead of creating it.
    #[arg(long)]
    data_only: bool,
    /// Make every type or feature mapping (DSQL) an error instead of a warning.
    #[arg(long)]
    strict: bool,
}

impl Common {
    async fn migration(&self, jobs: Option<usize>, restart: bool) -> Result<Migration, Error> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if jobs.is_some() {
            config.copy.jobs = jobs;
        }
        let mut b = Migration::builder()
            .config(config)
            .data_only(self.data_only)
            .strict(self.strict)
            .restart(restart);
        if let Some(s) = &self.source {
            b = b.source(s);
        }
        if let Some(t) = &self.target {
            b = b.target(t);
        }
        if let Some(p) = &self.profile {
            b = b.profile(p.parse::<Profile>()?);
        }
        b.build().await
    }
}

fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Config => 2,
        // Stopped by Ctrl-C, as shells report an interrupted program.
        ErrorKind::Cancelled => 130,
        _ => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // Without RUST_LOG: the engine's warnings, other crates' errors only.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,migrator_core=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = render::after_error(&e) {
                eprintln!("{hint}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Error> {
    render::handle_ctrl_c();
    match cli.command {
        Command::Plan { common, json } => {
            let m = common.migration(None, false).await?;
            let plan = m.plan().await?;
            if json {
                println!("{}", plan.to_json());
            } else {
                render::plan(&plan);
            }
            Ok(if plan.has_errors() { 1 } else { 0 })
        }
        Command::Copy {
            common,
            jobs,
            restart,
        } => {
            let m = common.migration(jobs, restart).await?;
            let plan = m.plan().await?;
            render::findings(&plan);
            let summary = render::copy(&m, &plan).await?;
            render::copy_summary(&summary);
            Ok(0)
        }
        Command::Sync { common, jobs } => {
            let m = common.migration(jobs, false).await?;
            let plan = m.plan().await?;
            render::findings(&plan);
            let summary = render::sync(&m, &plan).await?;
            render::sync_summary(&summary);
            Ok(0)
        }
        Command::Verify {
            common,
            json,
            checksums,
        } => {
            let m = common.migration(None, false).await?;
            let level = if checksums {
                VerifyLevel::Checksums
            } else {
                VerifyLevel::Counts
            };
            let report = m.verify(level).await?;
            if json {
                println!("{}", report.to_json());
            } else {
                render::verify(&report);
            }
            Ok(if report.is_clean() { 0 } else { 3 })
        }
        #[cfg(feature = "demo")]
        Command::Demo => demo::run().await,
    }
}
