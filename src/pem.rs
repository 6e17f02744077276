//! Certificates read from PEM files: the chain the sensor's HTTPS endpoint presents, the
//! CA it trusts for a PostgreSQL inventory, and the CA an HTTPS client (webhook,
//! signature update) trusts instead of the system's roots.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Every certificate in the PEM file at `path`, in order.
///
/// # Errors
/// The file cannot be read or parsed, or holds no certificate; the message names it.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// The certificates in the PEM file at `path` as the only roots an HTTPS client trusts.
///
/// # Errors
/// The file cannot be read or holds no certificate; the caller names the file.
pub fn client_roots(path: &Path) -> Result<ureq::tls::RootCerts, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err("it holds no PEM certificate".into());
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_certificate_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = certificates(&path).unwrap_err();
        assert!(e.contains("empty.pem holds no PEM certificate"), "{e}");
        let cert = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
        std::fs::write(&path, cert.cert.pem()).unwrap();
        assert_eq!(certificates(&path).unwrap().len(), 1);
        assert!(certificates(&dir.path().join("missing.pem")).is_err());
    }
}
