//! `veil key`: generate and inspect account keys.

use std::path::PathBuf;

use clap::Subcommand;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use veil_client::keys::{AccountKeyFile, read_json, write_secret_json};
use veil_primitives::{PrivateKey, to_hex};

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate a new ed25519 account key.
    Generate {
        /// Write the key file here (mode 0600); without it only the public key is printed and
        /// the secret is discarded.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show the public key (account id) of a key file.
    Inspect {
        /// Key file.
        file: PathBuf,
    },
}

pub(crate) fn run(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate { out, force } => {
            let key = PrivateKey::random(commonware_utils::sys_rng());
            if let Some(out) = out {
                anyhow::ensure!(
                    force || !out.exists(),
                    "{} exists; pass --force to overwrite it",
                    out.display()
                );
                write_secret_json(&out, &AccountKeyFile::new(&key))?;
                eprintln!("wrote {}", out.display());
            }
            println!("{}", to_hex(key.public_key()));
            Ok(())
        }
        KeyCommand::Inspect { file } => {
            let f: AccountKeyFile = read_json(&file)?;
            let key = f.private_key()?;
            println!("{}", to_hex(key.public_key()));
            Ok(())
        }
    }
}
