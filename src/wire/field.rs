//! Framing: the message header and parameter TLV views, padding, and the
//! internal reader and writer every repr is built on.

use super::error::{Error, ParamAction};
use super::types::{AsapType, EnrpType, ParamType};

/// Size of the message header (type, flags, length).
pub const HEADER_LEN: usize = 4;
/// Size of a parameter or error cause header (type, length).
pub const TLV_HEADER_LEN: usize = 4;

/// `len` rounded up to a multiple of 4 (the padded size of a TLV or message).
/// Saturates instead of overflowing for `len > usize::MAX - 3`.
pub const fn padded(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// The bytes a parameter with a value of `value_len` bytes occupies in a
/// message: header, value and padding.
pub const fn parameter_len(value_len: usize) -> usize {
    padded(TLV_HEADER_LEN.saturating_add(value_len))
}

#[inline]
pub(crate) fn rd16(b: &[u8], i: usize) -> u16 {
    match (b.get(i), b.get(i + 1)) {
        (Some(&x), Some(&y)) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

#[inline]
pub(crate) fn rd32(b: &[u8], i: usize) -> u32 {
    match b.get(i..i + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// A read/write view of an ASAP or ENRP message header over a buffer.
///
/// Accessors never panic: on a buffer shorter than the header they read 0
/// (use [`MessageHeader::new_checked`] to refuse such buffers), and setters
/// outside the buffer do nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MessageHeader<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        MessageHeader { buffer }
    }
    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let h = MessageHeader { buffer };
        h.check_len()?;
        Ok(h)
    }
    /// Checks that the buffer holds the header and the whole message its
    /// Message Length announces ([`Error::Truncated`] otherwise), and that the
    /// Message Length is at least 4 ([`Error::BadMessageLength`]).
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.length());
        if len < HEADER_LEN {
            return Err(Error::BadMessageLength);
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The message type.
    pub fn message_type(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }
    /// The message type as an ASAP one.
    pub fn asap_type(&self) -> AsapType {
        AsapType::from_raw(self.message_type())
    }
    /// The message type as an ENRP one.
    pub fn enrp_type(&self) -> EnrpType {
        EnrpType::from_raw(self.message_type())
    }
    /// The message flags.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref().get(1).copied().unwrap_or(0)
    }
    /// The Message Length field (header included, trailing padding excluded).
    pub fn length(&self) -> u16 {
        rd16(self.buffer.as_ref(), 2)
    }
    /// The Message Length rounded up to 4: what the message occupies.
    pub fn padded_len(&self) -> usize {
        padded(usize::from(self.length()))
    }
    /// The message value (after the header, up to the Message Length, clamped
    /// to the buffer).
    pub fn value(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.length()).min(b.len());
        b.get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MessageHeader<T> {
    /// Sets the message type.
    pub fn set_message_type(&mut self, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(0) {
            *b = value;
        }
    }
    /// Sets the message flags.
    pub fn set_flags(&mut self, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(1) {
            *b = value;
        }
    }
    /// Sets the Message Length field.
    pub fn set_length(&mut self, value: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(2..4) {
            b.copy_from_slice(&value.to_be_bytes());
        }
    }
}

/// A read/write view of a parameter (or error cause) TLV over a buffer.
///
/// Accessors never panic: on a short buffer they read 0 or an empty value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tlv<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Tlv { buffer }
    }
    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let t = Tlv { buffer };
        t.check_len()?;
        Ok(t)
    }
    /// Checks that the buffer holds the header and the whole value the
    /// length field announces ([`Error::Truncated`]), and that the length is
    /// at least 4 ([`Error::BadParameterLength`]).
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < TLV_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.length());
        if len < TLV_HEADER_LEN {
            return Err(Error::BadParameterLength {
                param_type: self.param_type(),
            });
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The parameter type (or cause code).
    pub fn param_type(&self) -> u16 {
        rd16(self.buffer.as_ref(), 0)
    }
    /// The parameter type as a [`ParamType`] (for a parameter, not an error
    /// cause).
    pub fn kind(&self) -> ParamType {
        ParamType::from_raw(self.param_type())
    }
    /// The length field (header included, padding excluded).
    pub fn length(&self) -> u16 {
        rd16(self.buffer.as_ref(), 2)
    }
    /// The length rounded up to 4: what the TLV occupies.
    pub fn padded_len(&self) -> usize {
        padded(usize::from(self.length()))
    }
    /// What to do if the type is not recognised.
    pub fn action(&self) -> ParamAction {
        ParamAction::of(self.param_type())
    }
    /// The value (after the header, up to the length, clamped to the buffer).
    pub fn value(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.length()).min(b.len());
        b.get(TLV_HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<'a> Tlv<&'a [u8]> {
    /// The value, borrowed from the underlying buffer rather than from the
    /// view (as [`value`](Self::value) otherwise).
    pub fn into_value(self) -> &'a [u8] {
        let end = usize::from(self.length()).min(self.buffer.len());
        self.buffer.get(TLV_HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tlv<T> {
    /// Sets the parameter type.
    pub fn set_param_type(&mut self, value: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(0..2) {
            b.copy_from_slice(&value.to_be_bytes());
        }
    }
    /// Sets the length field.
    pub fn set_length(&mut self, value: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(2..4) {
            b.copy_from_slice(&value.to_be_bytes());
        }
    }
}

/// One TLV found while reading a region.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawTlv<'a> {
    pub ty: u16,
    /// The value (length field minus 4 bytes).
    pub value: &'a [u8],
    /// Header and value, without padding.
    pub bytes: &'a [u8],
    /// Offset of the TLV in the parsed input.
    pub offset: usize,
}

impl<'a> RawTlv<'a> {
    /// The parameter type.
    #[inline]
    pub fn kind(&self) -> ParamType {
        ParamType::from_raw(self.ty)
    }
    /// The error for a TLV of unknown type whose action stops processing,
    /// or `Ok` for one to skip.
    pub fn unknown(&self) -> Result<(), Error> {
        let action = ParamAction::of(self.ty);
        if action.skips() {
            Ok(())
        } else {
            Err(Error::UnrecognizedParameter {
                param_type: self.ty,
                action,
                offset: self.offset,
                len: self.bytes.len(),
            })
        }
    }
    /// An unknown TLV is handled by its action; a known one is unexpected here.
    pub fn reject(&self) -> Result<(), Error> {
        if self.kind().is_known() {
            Err(Error::UnexpectedParameter {
                param_type: self.ty,
            })
        } else {
            self.unknown()
        }
    }
    /// The region of nested TLVs after `fixed` bytes of the value.
    #[inline]
    pub fn nested(&self, fixed: usize) -> Tlvs<'a> {
        Tlvs::new(
            self.value.get(fixed..).unwrap_or(&[]),
            self.offset + TLV_HEADER_LEN + fixed,
        )
    }
}

/// Reads the TLVs of a region. The last TLV's padding may lie outside the
/// region (RFC 5354's nesting) or inside it (rsplib's): both are accepted.
/// Padding bytes are ignored, whatever their value (RFC 5354 §3).
#[derive(Clone, Debug)]
pub(crate) struct Tlvs<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Tlvs<'a> {
    #[inline]
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Tlvs { buf, pos: 0, base }
    }
    /// Reads `buf` from `pos` on (offsets relative to `buf`).
    #[inline]
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Tlvs { buf, pos, base: 0 }
    }
    /// The read position in the region.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// The whole region.
    #[inline]
    pub fn region(&self) -> &'a [u8] {
        self.buf
    }
    /// The unread part of the region.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
    /// The next TLV. Errors end the region (the iterator then returns `None`).
    #[inline(always)]
    pub fn next_tlv(&mut self) -> Option<Result<RawTlv<'a>, Error>> {
        let rest = self.rest();
        if rest.is_empty() {
            return None;
        }
        let ty = rd16(rest, 0);
        let len = usize::from(rd16(rest, 2));
        if rest.len() < TLV_HEADER_LEN || len < TLV_HEADER_LEN || len > rest.len() {
            self.pos = self.buf.len();
            return Some(Err(Error::BadParameterLength {
                param_type: if rest.len() >= 2 { ty } else { 0 },
            }));
        }
        let offset = self.base + self.pos;
        self.pos = (self.pos + padded(len)).min(self.buf.len());
        Some(Ok(RawTlv {
            ty,
            value: rest.get(TLV_HEADER_LEN..len).unwrap_or(&[]),
            bytes: rest.get(..len).unwrap_or(&[]),
            offset,
        }))
    }
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Result<RawTlv<'a>, Error>;
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_tlv()
    }
}

/// Writes a message into a caller buffer (internal to the codec). Writes
/// beyond the buffer are dropped but counted, so one pass yields the bytes or
/// the exact size needed.
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    too_long: bool,
}

impl<'b> Writer<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer {
            buf,
            pos: 0,
            too_long: false,
        }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    #[inline]
    pub fn bytes(&mut self, data: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + data.len()) {
            dst.copy_from_slice(data);
        }
        self.pos += data.len();
    }
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    /// Zero bytes up to the next multiple of 4.
    #[inline]
    pub fn pad(&mut self) {
        for _ in self.pos..padded(self.pos) {
            self.u8(0);
        }
    }
    /// Starts a parameter TLV (see `begin`).
    pub fn begin_param(&mut self, ty: ParamType) -> usize {
        self.begin(ty.raw())
    }
    /// Starts a TLV (a parameter or an error cause): writes the type and a
    /// length to be patched by `end`.
    pub fn begin(&mut self, ty: u16) -> usize {
        let start = self.pos;
        self.u16(ty);
        self.u16(0);
        start
    }
    /// Patches the length of the TLV started at `start` and pads it. Nested
    /// TLVs are padded already, so container lengths include the nested
    /// padding (rsplib's convention); a leaf's length excludes its own.
    pub fn end(&mut self, start: usize) {
        self.patch_len(start + 2, self.pos - start);
        self.pad();
    }
    pub fn patch_len(&mut self, at: usize, len: usize) {
        let v = match u16::try_from(len) {
            Ok(v) => v,
            Err(_) => {
                self.too_long = true;
                u16::MAX
            }
        };
        if let Some(dst) = self.buf.get_mut(at..at + 2) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }
    pub fn finish(self) -> Result<usize, Error> {
        if self.too_long {
            Err(Error::TooLong)
        } else if self.pos > self.buf.len() {
            Err(Error::BufferTooSmall { needed: self.pos })
        } else {
            Ok(self.pos)
        }
    }
}
