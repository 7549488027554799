//! Every error type of the crate is a `core::error::Error` (so also a
//! `std::error::Error`, and usable without std), with a message.

use core::error::Error;

fn is_error<E: Error + Send + Sync + 'static>() {}

#[test]
fn every_error_type_is_an_error() {
    is_error::<rserpool::addr::TransportError>();
    is_error::<rserpool::handlespace::HandlespaceError>();
    is_error::<rserpool::id::IdError>();
    is_error::<rserpool::policy::PolicyError>();
    is_error::<rserpool::pool_element::PoolElementError>();
    is_error::<rserpool::asap_client::server_hunt::HuntError>();
    is_error::<rserpool::pool_user::PoolUserError>();
    is_error::<rserpool::registrar::RegistrarError>();
    is_error::<rserpool::session::Backpressure>();
    is_error::<rserpool::session::SessionError>();
    is_error::<rserpool::storage::arena::CapacityError>();
    is_error::<rserpool::storage::InvariantError>();
    is_error::<rserpool::transmit::QueueError>();
    is_error::<rserpool::wire::Error>();
    #[cfg(feature = "runtime")]
    {
        is_error::<rserpool::runtime::element::DeregisterError>();
        is_error::<rserpool::runtime::user::RequestError>();
    }
}

#[cfg(feature = "runtime")]
#[test]
fn pool_user_errors_say_what_went_wrong_and_keep_their_source() {
    use rserpool::runtime::RequestError;
    use rserpool::session::SessionError;
    let e = RequestError::TooLarge {
        len: 70_000,
        limit: 65_503,
    };
    assert_eq!(
        e.to_string(),
        "a message of 70000 bytes is larger than the 65503 bytes the node sends"
    );
    assert!(e.source().is_none());
    assert_eq!(
        RequestError::UnknownPool.to_string(),
        "the registrars do not know the pool"
    );
    assert_eq!(
        RequestError::NoRegistrar.to_string(),
        "no registrar answered"
    );
    let e: Box<dyn Error> = Box::new(RequestError::Session(SessionError::TableFull));
    assert_eq!(
        e.source().map(|s| s.to_string()),
        Some(String::from("session table full"))
    );
}

#[test]
fn errors_say_what_went_wrong() {
    let e: Box<dyn Error> = Box::new(rserpool::asap_client::server_hunt::HuntError::TableFull);
    assert_eq!(e.to_string(), "the registrar table is full");
    let e = rserpool::storage::InvariantError {
        rule: "red node with a red child",
        node: 3,
    };
    assert_eq!(e.to_string(), "red node with a red child at node 3");
}
