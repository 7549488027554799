//! [`MessageBuilder`]: emits a message parameter by parameter, for lists
//! produced on the fly (e.g. straight from handlespace storage) and for
//! "as many as fit" responses.

use super::error::Error;
use super::field::{padded, Writer, HEADER_LEN};
use super::list::sealed::Sealed;
use super::operror::OperationError;
use super::param::{
    write_checksum, write_handle, write_opaque, write_u32_param, PolicyParam, PoolElementParam,
    ServerInfoParam, TransportParam,
};
use super::types::{AsapType, EnrpType, ParamType};
use crate::id::{PeId, ServerId};

/// Writes one message into a caller buffer, one parameter at a time.
///
/// Use it where [`AsapMessage::emit`](super::AsapMessage::emit) /
/// [`EnrpMessage::emit`](super::EnrpMessage::emit) would need the items of
/// a list collected in a slice first: a registrar answering an
/// ENRP_HANDLE_TABLE_REQUEST can walk its handlespace and append each pool
/// handle and PE directly, and stop (setting the `M` flag) at the first one
/// that no longer fits, as rsplib does.
///
/// Every append is all-or-nothing: when the parameter does not fit,
/// nothing is added, [`Error::BufferTooSmall`] reports the size the message
/// would have needed, and the builder stays usable. The builder writes what
/// it is given in that order; the caller is responsible for the message
/// grammar (which parameters, in which order). [`finish`](Self::finish)
/// patches the Message Length and returns it.
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    /// The length after the header (and the ENRP server identifiers).
    start: usize,
}

impl<'b> MessageBuilder<'b> {
    /// Starts an ASAP message (type and flags, see [`AsapType`] and
    /// [`asap_flags`](super::asap_flags)).
    pub fn asap(
        buf: &'b mut [u8],
        message_type: impl Into<AsapType>,
        flags: u8,
    ) -> Result<Self, Error> {
        let message_type = message_type.into().raw();
        let mut b = MessageBuilder {
            buf,
            len: 0,
            start: 0,
        };
        b.append(|w| {
            w.u8(message_type);
            w.u8(flags);
            w.u16(0);
            Ok(())
        })?;
        b.start = b.len;
        Ok(b)
    }

    /// Starts an ENRP message (type and flags, see [`EnrpType`] and
    /// [`enrp_flags`](super::enrp_flags)) with its server identifiers
    /// (`receiver` `None` is sent as 0).
    pub fn enrp(
        buf: &'b mut [u8],
        message_type: impl Into<EnrpType>,
        flags: u8,
        sender: ServerId,
        receiver: Option<ServerId>,
    ) -> Result<Self, Error> {
        let message_type = message_type.into().raw();
        let mut b = MessageBuilder {
            buf,
            len: 0,
            start: 0,
        };
        b.append(|w| {
            w.u8(message_type);
            w.u8(flags);
            w.u16(0);
            w.u32(sender.get());
            w.u32(receiver.map_or(0, ServerId::get));
            Ok(())
        })?;
        b.start = b.len;
        Ok(b)
    }

    fn append(
        &mut self,
        body: impl FnOnce(&mut Writer<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let rest = self.buf.get_mut(self.len..).unwrap_or(&mut []);
        let mut w = Writer::new(rest);
        body(&mut w)?;
        let n = match w.finish() {
            Ok(n) => n,
            Err(Error::BufferTooSmall { needed }) => {
                return Err(Error::BufferTooSmall {
                    needed: self.len + needed,
                })
            }
            Err(e) => return Err(e),
        };
        if self.len + n > usize::from(u16::MAX) {
            return Err(Error::TooLong);
        }
        self.len += n;
        Ok(())
    }

    /// The bytes written so far (always a multiple of 4).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been appended after the header (and, for ENRP,
    /// the server identifiers).
    pub fn is_empty(&self) -> bool {
        self.len == self.start
    }

    /// Changes the flags byte (e.g. to set `M` after the last entry that fit).
    pub fn set_flags(&mut self, flags: u8) {
        if let Some(b) = self.buf.get_mut(1) {
            *b = flags;
        }
    }

    /// Appends a 32-bit fixed field (a server identifier, a target server).
    pub fn fixed_u32(&mut self, value: u32) -> Result<(), Error> {
        self.append(|w| {
            w.u32(value);
            Ok(())
        })
    }

    /// Appends the Update Action and reserved field of an ENRP_HANDLE_UPDATE.
    pub fn update_action(&mut self, action: super::UpdateAction) -> Result<(), Error> {
        self.append(|w| {
            w.u16(action.value());
            w.u16(0);
            Ok(())
        })
    }

    /// Appends a Pool Handle parameter.
    pub fn pool_handle(&mut self, handle: &[u8]) -> Result<(), Error> {
        self.append(|w| write_handle(w, handle))
    }

    /// Appends a Pool Element parameter.
    pub fn pool_element(&mut self, element: &PoolElementParam<'_>) -> Result<(), Error> {
        self.append(|w| element.write(w))
    }

    /// Appends a PE Identifier parameter.
    pub fn pe_id(&mut self, id: PeId) -> Result<(), Error> {
        self.append(|w| {
            write_u32_param(w, ParamType::PeIdentifier, id.get());
            Ok(())
        })
    }

    /// Appends a Pool Member Selection Policy parameter.
    pub fn policy(&mut self, policy: &PolicyParam<'_>) -> Result<(), Error> {
        self.append(|w| {
            policy.write(w);
            Ok(())
        })
    }

    /// Appends a transport parameter.
    pub fn transport(&mut self, transport: &TransportParam<'_>) -> Result<(), Error> {
        self.append(|w| transport.write(w))
    }

    /// Appends a Server Information parameter.
    pub fn server_info(&mut self, info: &ServerInfoParam<'_>) -> Result<(), Error> {
        self.append(|w| info.write(w))
    }

    /// Appends an Operation Error parameter.
    pub fn operation_error(&mut self, error: &OperationError<'_>) -> Result<(), Error> {
        self.append(|w| error.write(w))
    }

    /// Appends a Cookie parameter.
    pub fn cookie(&mut self, cookie: &[u8]) -> Result<(), Error> {
        self.append(|w| {
            write_opaque(w, ParamType::Cookie, cookie);
            Ok(())
        })
    }

    /// Appends a PE Checksum parameter.
    pub fn pe_checksum(&mut self, checksum: u16) -> Result<(), Error> {
        self.append(|w| {
            write_checksum(w, checksum);
            Ok(())
        })
    }

    /// Appends a Handle Resolution Option parameter.
    pub fn handle_resolution_option(&mut self, items: u32) -> Result<(), Error> {
        self.append(|w| {
            write_u32_param(w, ParamType::HandleResolutionOption, items);
            Ok(())
        })
    }

    /// Appends a complete, already encoded parameter TLV (e.g. one of
    /// unknown type to pass on); it is padded to 4.
    pub fn raw_parameter(&mut self, tlv: &[u8]) -> Result<(), Error> {
        self.append(|w| {
            w.bytes(tlv);
            w.pad();
            Ok(())
        })
    }

    /// Patches the Message Length; returns the message's length.
    pub fn finish(self) -> Result<usize, Error> {
        let len = self.len;
        debug_assert_eq!(len, padded(len));
        let v = u16::try_from(len).map_err(|_| Error::TooLong)?;
        match self.buf.get_mut(2..4) {
            Some(dst) => dst.copy_from_slice(&v.to_be_bytes()),
            None => return Err(Error::BufferTooSmall { needed: HEADER_LEN }),
        }
        Ok(len)
    }
}
