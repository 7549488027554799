//! Message and parameter types as enums with an `Unknown` variant (the
//! `enum_with_unknown!` pattern of smoltcp): [`AsapType`], [`EnrpType`] and
//! [`ParamType`], and the raw numbers under their RFC names
//! ([`asap_type`], [`enrp_type`], [`param_type`]) for code that reads or
//! writes bytes itself.

/// An enum of the known values of a wire field plus `Unknown(raw)`, with
/// `From` conversions both ways (a raw value that has a variant always
/// converts to it) and `const` versions of them.
macro_rules! enum_with_unknown {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident($ty:ty) {
            $(
                $(#[$variant_attr:meta])*
                $variant:ident = $value:literal => $label:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum $name {
            $(
                $(#[$variant_attr])*
                $variant,
            )+
            /// A value this codec does not know (never one of the values
            /// above when made by `from_raw` or `From`).
            Unknown($ty),
        }

        impl $name {
            /// The type of a raw wire value.
            #[inline(always)]
            pub const fn from_raw(value: $ty) -> Self {
                match value {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }
            /// The raw wire value.
            #[inline]
            pub const fn raw(self) -> $ty {
                match self {
                    $($name::$variant => $value,)+
                    $name::Unknown(other) => other,
                }
            }
            /// Whether this codec knows the type.
            #[inline]
            pub const fn is_known(self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
            /// The type's name, or `None` for an unknown one.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $($name::$variant => Some($label),)+
                    $name::Unknown(_) => None,
                }
            }
        }

        impl From<$ty> for $name {
            fn from(value: $ty) -> Self {
                $name::from_raw(value)
            }
        }

        impl From<$name> for $ty {
            fn from(value: $name) -> Self {
                value.raw()
            }
        }
    };
}

enum_with_unknown! {
    /// ASAP message types (RFC 5352 §2.2); the names are the RFC's.
    pub enum AsapType(u8) {
        /// ASAP_REGISTRATION.
        Registration = 0x01 => "ASAP_REGISTRATION",
        /// ASAP_DEREGISTRATION.
        Deregistration = 0x02 => "ASAP_DEREGISTRATION",
        /// ASAP_REGISTRATION_RESPONSE.
        RegistrationResponse = 0x03 => "ASAP_REGISTRATION_RESPONSE",
        /// ASAP_DEREGISTRATION_RESPONSE.
        DeregistrationResponse = 0x04 => "ASAP_DEREGISTRATION_RESPONSE",
        /// ASAP_HANDLE_RESOLUTION.
        HandleResolution = 0x05 => "ASAP_HANDLE_RESOLUTION",
        /// ASAP_HANDLE_RESOLUTION_RESPONSE.
        HandleResolutionResponse = 0x06 => "ASAP_HANDLE_RESOLUTION_RESPONSE",
        /// ASAP_ENDPOINT_KEEP_ALIVE.
        EndpointKeepAlive = 0x07 => "ASAP_ENDPOINT_KEEP_ALIVE",
        /// ASAP_ENDPOINT_KEEP_ALIVE_ACK.
        EndpointKeepAliveAck = 0x08 => "ASAP_ENDPOINT_KEEP_ALIVE_ACK",
        /// ASAP_ENDPOINT_UNREACHABLE.
        EndpointUnreachable = 0x09 => "ASAP_ENDPOINT_UNREACHABLE",
        /// ASAP_SERVER_ANNOUNCE.
        ServerAnnounce = 0x0A => "ASAP_SERVER_ANNOUNCE",
        /// ASAP_COOKIE.
        Cookie = 0x0B => "ASAP_COOKIE",
        /// ASAP_COOKIE_ECHO.
        CookieEcho = 0x0C => "ASAP_COOKIE_ECHO",
        /// ASAP_BUSINESS_CARD.
        BusinessCard = 0x0D => "ASAP_BUSINESS_CARD",
        /// ASAP_ERROR.
        Error = 0x0E => "ASAP_ERROR",
    }
}

enum_with_unknown! {
    /// ENRP message types (RFC 5353 §2); the names are the RFC's.
    pub enum EnrpType(u8) {
        /// ENRP_PRESENCE.
        Presence = 0x01 => "ENRP_PRESENCE",
        /// ENRP_HANDLE_TABLE_REQUEST.
        HandleTableRequest = 0x02 => "ENRP_HANDLE_TABLE_REQUEST",
        /// ENRP_HANDLE_TABLE_RESPONSE.
        HandleTableResponse = 0x03 => "ENRP_HANDLE_TABLE_RESPONSE",
        /// ENRP_HANDLE_UPDATE.
        HandleUpdate = 0x04 => "ENRP_HANDLE_UPDATE",
        /// ENRP_LIST_REQUEST.
        ListRequest = 0x05 => "ENRP_LIST_REQUEST",
        /// ENRP_LIST_RESPONSE.
        ListResponse = 0x06 => "ENRP_LIST_RESPONSE",
        /// ENRP_INIT_TAKEOVER.
        InitTakeover = 0x07 => "ENRP_INIT_TAKEOVER",
        /// ENRP_INIT_TAKEOVER_ACK.
        InitTakeoverAck = 0x08 => "ENRP_INIT_TAKEOVER_ACK",
        /// ENRP_TAKEOVER_SERVER.
        TakeoverServer = 0x09 => "ENRP_TAKEOVER_SERVER",
        /// ENRP_ERROR.
        Error = 0x0A => "ENRP_ERROR",
    }
}

enum_with_unknown! {
    /// Parameter types (RFC 5354 §3 and rsplib's Handle Resolution Option).
    pub enum ParamType(u16) {
        /// IPv4 Address.
        Ipv4Address = 0x0001 => "IPv4 Address",
        /// IPv6 Address.
        Ipv6Address = 0x0002 => "IPv6 Address",
        /// DCCP Transport.
        DccpTransport = 0x0003 => "DCCP Transport",
        /// SCTP Transport.
        SctpTransport = 0x0004 => "SCTP Transport",
        /// TCP Transport.
        TcpTransport = 0x0005 => "TCP Transport",
        /// UDP Transport.
        UdpTransport = 0x0006 => "UDP Transport",
        /// UDP-Lite Transport.
        UdpLiteTransport = 0x0007 => "UDP-Lite Transport",
        /// Pool Member Selection Policy.
        Policy = 0x0008 => "Pool Member Selection Policy",
        /// Pool Handle.
        PoolHandle = 0x0009 => "Pool Handle",
        /// Pool Element.
        PoolElement = 0x000A => "Pool Element",
        /// Server Information.
        ServerInformation = 0x000B => "Server Information",
        /// Operation Error.
        OperationError = 0x000C => "Operation Error",
        /// Cookie.
        Cookie = 0x000D => "Cookie",
        /// PE Identifier.
        PeIdentifier = 0x000E => "PE Identifier",
        /// PE Checksum.
        PeChecksum = 0x000F => "PE Checksum",
        /// Opaque Transport.
        OpaqueTransport = 0x0010 => "Opaque Transport",
        /// Handle Resolution Option.
        HandleResolutionOption = 0x803F => "Handle Resolution Option",
    }
}

/// ASAP message type numbers (RFC 5352 §2.2), from [`AsapType`].
pub mod asap_type {
    use super::AsapType;

    /// ASAP_REGISTRATION.
    pub const REGISTRATION: u8 = AsapType::Registration.raw();
    /// ASAP_DEREGISTRATION.
    pub const DEREGISTRATION: u8 = AsapType::Deregistration.raw();
    /// ASAP_REGISTRATION_RESPONSE.
    pub const REGISTRATION_RESPONSE: u8 = AsapType::RegistrationResponse.raw();
    /// ASAP_DEREGISTRATION_RESPONSE.
    pub const DEREGISTRATION_RESPONSE: u8 = AsapType::DeregistrationResponse.raw();
    /// ASAP_HANDLE_RESOLUTION.
    pub const HANDLE_RESOLUTION: u8 = AsapType::HandleResolution.raw();
    /// ASAP_HANDLE_RESOLUTION_RESPONSE.
    pub const HANDLE_RESOLUTION_RESPONSE: u8 = AsapType::HandleResolutionResponse.raw();
    /// ASAP_ENDPOINT_KEEP_ALIVE.
    pub const ENDPOINT_KEEP_ALIVE: u8 = AsapType::EndpointKeepAlive.raw();
    /// ASAP_ENDPOINT_KEEP_ALIVE_ACK.
    pub const ENDPOINT_KEEP_ALIVE_ACK: u8 = AsapType::EndpointKeepAliveAck.raw();
    /// ASAP_ENDPOINT_UNREACHABLE.
    pub const ENDPOINT_UNREACHABLE: u8 = AsapType::EndpointUnreachable.raw();
    /// ASAP_SERVER_ANNOUNCE.
    pub const SERVER_ANNOUNCE: u8 = AsapType::ServerAnnounce.raw();
    /// ASAP_COOKIE.
    pub const COOKIE: u8 = AsapType::Cookie.raw();
    /// ASAP_COOKIE_ECHO.
    pub const COOKIE_ECHO: u8 = AsapType::CookieEcho.raw();
    /// ASAP_BUSINESS_CARD.
    pub const BUSINESS_CARD: u8 = AsapType::BusinessCard.raw();
    /// ASAP_ERROR.
    pub const ERROR: u8 = AsapType::Error.raw();

    /// The RFC name of a message type, or `None` for an unknown one.
    pub const fn name(message_type: u8) -> Option<&'static str> {
        AsapType::from_raw(message_type).name()
    }
}

/// ENRP message type numbers (RFC 5353 §2), from [`EnrpType`].
pub mod enrp_type {
    use super::EnrpType;

    /// ENRP_PRESENCE.
    pub const PRESENCE: u8 = EnrpType::Presence.raw();
    /// ENRP_HANDLE_TABLE_REQUEST.
    pub const HANDLE_TABLE_REQUEST: u8 = EnrpType::HandleTableRequest.raw();
    /// ENRP_HANDLE_TABLE_RESPONSE.
    pub const HANDLE_TABLE_RESPONSE: u8 = EnrpType::HandleTableResponse.raw();
    /// ENRP_HANDLE_UPDATE.
    pub const HANDLE_UPDATE: u8 = EnrpType::HandleUpdate.raw();
    /// ENRP_LIST_REQUEST.
    pub const LIST_REQUEST: u8 = EnrpType::ListRequest.raw();
    /// ENRP_LIST_RESPONSE.
    pub const LIST_RESPONSE: u8 = EnrpType::ListResponse.raw();
    /// ENRP_INIT_TAKEOVER.
    pub const INIT_TAKEOVER: u8 = EnrpType::InitTakeover.raw();
    /// ENRP_INIT_TAKEOVER_ACK.
    pub const INIT_TAKEOVER_ACK: u8 = EnrpType::InitTakeoverAck.raw();
    /// ENRP_TAKEOVER_SERVER.
    pub const TAKEOVER_SERVER: u8 = EnrpType::TakeoverServer.raw();
    /// ENRP_ERROR.
    pub const ERROR: u8 = EnrpType::Error.raw();

    /// The RFC name of a message type, or `None` for an unknown one.
    pub const fn name(message_type: u8) -> Option<&'static str> {
        EnrpType::from_raw(message_type).name()
    }
}

/// Parameter type numbers (RFC 5354 §3 and rsplib's Handle Resolution
/// Option), from [`ParamType`].
pub mod param_type {
    use super::ParamType;

    /// IPv4 Address.
    pub const IPV4_ADDRESS: u16 = ParamType::Ipv4Address.raw();
    /// IPv6 Address.
    pub const IPV6_ADDRESS: u16 = ParamType::Ipv6Address.raw();
    /// DCCP Transport.
    pub const DCCP_TRANSPORT: u16 = ParamType::DccpTransport.raw();
    /// SCTP Transport.
    pub const SCTP_TRANSPORT: u16 = ParamType::SctpTransport.raw();
    /// TCP Transport.
    pub const TCP_TRANSPORT: u16 = ParamType::TcpTransport.raw();
    /// UDP Transport.
    pub const UDP_TRANSPORT: u16 = ParamType::UdpTransport.raw();
    /// UDP-Lite Transport.
    pub const UDP_LITE_TRANSPORT: u16 = ParamType::UdpLiteTransport.raw();
    /// Pool Member Selection Policy.
    pub const POLICY: u16 = ParamType::Policy.raw();
    /// Pool Handle.
    pub const POOL_HANDLE: u16 = ParamType::PoolHandle.raw();
    /// Pool Element.
    pub const POOL_ELEMENT: u16 = ParamType::PoolElement.raw();
    /// Server Information.
    pub const SERVER_INFORMATION: u16 = ParamType::ServerInformation.raw();
    /// Operation Error.
    pub const OPERATION_ERROR: u16 = ParamType::OperationError.raw();
    /// Cookie.
    pub const COOKIE: u16 = ParamType::Cookie.raw();
    /// PE Identifier.
    pub const PE_IDENTIFIER: u16 = ParamType::PeIdentifier.raw();
    /// PE Checksum.
    pub const PE_CHECKSUM: u16 = ParamType::PeChecksum.raw();
    /// Opaque Transport.
    pub const OPAQUE_TRANSPORT: u16 = ParamType::OpaqueTransport.raw();
    /// Handle Resolution Option.
    pub const HANDLE_RESOLUTION_OPTION: u16 = ParamType::HandleResolutionOption.raw();

    /// The name of a parameter type, or `None` for an unknown one.
    pub const fn name(param_type: u16) -> Option<&'static str> {
        ParamType::from_raw(param_type).name()
    }

    /// Whether this codec knows the parameter type.
    pub const fn is_known(param_type: u16) -> bool {
        ParamType::from_raw(param_type).is_known()
    }
}
