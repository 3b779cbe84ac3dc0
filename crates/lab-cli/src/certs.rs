//! `mcp-authlab certs`: creates or reuses the lab CA and issues a fresh server leaf, without
//! starting anything.

use lab_pki::CertDir;

use crate::CertsArgs;

pub(crate) fn run(args: &CertsArgs) -> anyhow::Result<()> {
    let dir = CertDir::new(&args.out);
    // The pki error already names the file at fault (`failed to load `certs/ca-key.pem``).
    let pki = dir.load_or_create()?;
    if pki.created_ca {
        println!("Created a new lab CA in {}: clients must be told to trust it.", dir.path().display());
    } else {
        println!("Reused the lab CA in {}.", dir.path().display());
    }
    println!("Issued a new server certificate for {}.", pki.leaf.names().join(", "));
    println!();
    println!("  CA certificate      {}  (trust this one)", dir.ca_cert_path().display());
    println!("  CA private key      {}", dir.ca_key_path().display());
    println!("  server certificate  {}  (leaf + CA)", dir.server_cert_path().display());
    println!("  server private key  {}", dir.server_key_path().display());
    Ok(())
}
