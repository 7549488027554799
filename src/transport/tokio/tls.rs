//! TLS 1.3 on ASAP and ENRP over TCP (feature `tls`): rustls with the
//! ring provider, certificates from PEM files.
//!
//! RFC 5352 §9 and RFC 5353 §6 ask for TLS between pool elements and
//! registrars, between registrars, and from pool users to registrars, with
//! the TLS 1.0 era cipher suites of their day (and pre-shared keys). Those
//! suites are obsolete; this module speaks TLS 1.3 only, with X.509
//! certificates that chain to the roots of a [`TlsConfig`]:
//!
//! * a node that **accepts** (a registrar's ASAP and ENRP listeners)
//!   presents its certificate chain and verifies a client's certificate
//!   against the roots when the client presents one; it refuses clients
//!   without certificate when told to ([`TlsConfig::require_client_auth`];
//!   always on ENRP listeners);
//! * a node that **connects** verifies the server's certificate against
//!   the roots and against the IP address it connects to (the certificate
//!   must name that address in a subjectAltName of type iPAddress), and
//!   presents its own chain when it has one (pool elements and registrars
//!   do, pool users need not).
//!
//! A connection whose handshake fails or does not finish within
//! [`TlsConfig::handshake_timeout`] is closed and counted
//! ([`TcpCounters::tls_handshake_failures`](super::TcpCounters)); an
//! accepted one is never reported to the node, a connect fails
//! ([`Input::ConnectFailed`](super::Input)). Every other bound of the TCP
//! transport (connection cap, send buffer, idle timeout, frame size) holds
//! for TLS connections as it does for plain ones.

use std::fmt;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// [`TlsConfig::handshake_timeout`] by default: 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest PEM file read (a certificate chain, a key, a CA bundle).
pub const MAX_PEM_FILE: u64 = 1 << 20;

/// Why a [`TlsConfig`] could not be made.
#[derive(Debug)]
pub enum TlsConfigError {
    /// A file could not be read (or is larger than [`MAX_PEM_FILE`]).
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A PEM file holds a section that cannot be decoded.
    Pem {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        error: String,
    },
    /// The certificate file holds no certificate.
    NoCertificate(PathBuf),
    /// The key file holds no private key.
    NoKey(PathBuf),
    /// No root certificate was given (the CA file holds none).
    NoRoots,
    /// rustls refused the certificates or the key (a root that is no
    /// certificate, a key that does not match, an unsupported key type).
    Rejected(rustls::Error),
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsConfigError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            TlsConfigError::Pem { path, error } => {
                write!(f, "{}: not PEM as expected: {error}", path.display())
            }
            TlsConfigError::NoCertificate(p) => write!(f, "{}: no certificate", p.display()),
            TlsConfigError::NoKey(p) => write!(f, "{}: no private key", p.display()),
            TlsConfigError::NoRoots => f.write_str("no root certificate"),
            TlsConfigError::Rejected(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for TlsConfigError {}

impl From<rustls::Error> for TlsConfigError {
    fn from(e: rustls::Error) -> Self {
        TlsConfigError::Rejected(e)
    }
}

/// A node's TLS settings: the roots peers' certificates must chain to, its
/// own certificate chain and key (needed to accept, and to authenticate
/// as a client), whether its ASAP listeners require client certificates,
/// and the handshake timeout. Made once ([`from_pem_files`](Self::from_pem_files),
/// [`from_der`](Self::from_der)); the rustls configurations are built then,
/// so every error shows at once.
#[derive(Clone)]
pub struct TlsConfig {
    roots: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: Option<Arc<PrivateKeyDer<'static>>>,
    require_client_auth: bool,
    handshake_timeout: Duration,
    /// Accepts clients with or without a certificate (a certificate
    /// presented is verified); `None` without an identity.
    server_optional: Option<Arc<ServerConfig>>,
    /// Accepts only clients whose certificate chains to the roots.
    server_required: Option<Arc<ServerConfig>>,
    client: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("chain", &self.chain.len())
            .field("key", &self.key.is_some())
            .field("require_client_auth", &self.require_client_auth)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl PartialEq for TlsConfig {
    /// Equal when made of the same certificates, key and settings.
    fn eq(&self, other: &Self) -> bool {
        self.roots == other.roots
            && self.chain == other.chain
            && self.key.as_deref().map(PrivateKeyDer::secret_der)
                == other.key.as_deref().map(PrivateKeyDer::secret_der)
            && self.require_client_auth == other.require_client_auth
            && self.handshake_timeout == other.handshake_timeout
    }
}

impl Eq for TlsConfig {}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    use std::io::Read;
    let read = |error| TlsConfigError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "file larger than 1 MiB",
        )));
    }
    Ok(bytes)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = read_pem(path)?;
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(&bytes) {
        out.push(c.map_err(|e| TlsConfigError::Pem {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?);
    }
    Ok(out)
}

/// The crate's crypto provider: ring.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// Reads the roots from `ca` (PEM, one or more certificates) and, when
    /// given, the node's own certificate chain (PEM, its certificate
    /// first) and private key (PEM: PKCS#8, PKCS#1 or SEC1) from
    /// `identity`. A node that accepts TLS connections (a registrar), or
    /// authenticates as a client (a pool element, a registrar connecting to
    /// its peers), needs an identity; a pool user does not.
    pub fn from_pem_files(
        ca: impl AsRef<Path>,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Self, TlsConfigError> {
        let roots = certificates(ca.as_ref())?;
        let identity = match identity {
            Some((cert, key)) => {
                let chain = certificates(cert)?;
                if chain.is_empty() {
                    return Err(TlsConfigError::NoCertificate(cert.to_path_buf()));
                }
                let bytes = read_pem(key)?;
                let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
                    rustls_pki_types::pem::Error::NoItemsFound => {
                        TlsConfigError::NoKey(key.to_path_buf())
                    }
                    e => TlsConfigError::Pem {
                        path: key.to_path_buf(),
                        error: e.to_string(),
                    },
                })?;
                Some((chain, key))
            }
            None => None,
        };
        Self::from_der(roots, identity)
    }

    /// The same from certificates and a key already decoded (DER).
    pub fn from_der(
        roots: Vec<CertificateDer<'static>>,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Self, TlsConfigError> {
        if roots.is_empty() {
            return Err(TlsConfigError::NoRoots);
        }
        let mut store = RootCertStore::empty();
        for r in &roots {
            store.add(r.clone())?;
        }
        let store = Arc::new(store);
        let versions = &[&rustls::version::TLS13];
        let server_verifier =
            WebPkiServerVerifier::builder_with_provider(store.clone(), provider())
                .build()
                .map_err(|e| TlsConfigError::Rejected(rustls::Error::General(e.to_string())))?;
        let client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)?
            .with_webpki_verifier(server_verifier);
        let (chain, key, client, server_optional, server_required) = match identity {
            Some((chain, key)) => {
                let client = client.with_client_auth_cert(chain.clone(), key.clone_key())?;
                let mut servers = [None, None];
                for (required, slot) in [false, true].into_iter().zip(servers.iter_mut()) {
                    let verifier =
                        WebPkiClientVerifier::builder_with_provider(store.clone(), provider());
                    let verifier = if required {
                        verifier
                    } else {
                        verifier.allow_unauthenticated()
                    };
                    let verifier = verifier.build().map_err(|e| {
                        TlsConfigError::Rejected(rustls::Error::General(e.to_string()))
                    })?;
                    let server = ServerConfig::builder_with_provider(provider())
                        .with_protocol_versions(versions)?
                        .with_client_cert_verifier(verifier)
                        .with_single_cert(chain.clone(), key.clone_key())?;
                    *slot = Some(Arc::new(server));
                }
                let [optional, required] = servers;
                (chain, Some(Arc::new(key)), client, optional, required)
            }
            None => (Vec::new(), None, client.with_no_client_auth(), None, None),
        };
        Ok(TlsConfig {
            roots,
            chain,
            key,
            require_client_auth: false,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            server_optional,
            server_required,
            client: Arc::new(client),
        })
    }

    /// Whether an ASAP listener refuses clients that present no
    /// certificate (then pool users need certificates too). Off by
    /// default: pool users authenticate the registrar only, and a
    /// registrar takes registrations only from clients that authenticated
    /// (see [`runtime`](crate::runtime)). ENRP listeners always require
    /// one.
    pub fn with_client_auth_required(mut self, required: bool) -> Self {
        self.require_client_auth = required;
        self
    }

    /// The handshake timeout ([`DEFAULT_HANDSHAKE_TIMEOUT`] by default).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Whether ASAP listeners require client certificates.
    pub fn require_client_auth(&self) -> bool {
        self.require_client_auth
    }

    /// How long a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Whether it has a certificate and key of its own (needed to accept
    /// and to authenticate as a client).
    pub fn has_identity(&self) -> bool {
        self.key.is_some()
    }

    /// The roots peers' certificates must chain to.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The node's own certificate chain (empty without an identity).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The acceptor of a listener, `None` without an identity.
    pub(crate) fn acceptor(&self, require_client_cert: bool) -> Option<tokio_rustls::TlsAcceptor> {
        let server = if require_client_cert {
            self.server_required.as_ref()
        } else {
            self.server_optional.as_ref()
        };
        server.map(|s| tokio_rustls::TlsAcceptor::from(s.clone()))
    }

    /// The connector of connects.
    pub(crate) fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.client.clone())
    }
}
