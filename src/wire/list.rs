//! [`List`]: a sequence of addresses, transports, pool elements, server
//! informations, error causes or pool entries that is either a lazy view of
//! parsed bytes or a caller's slice.

use core::fmt;

use super::field::Writer;

pub(crate) mod sealed {
    use super::super::{field::Writer, Error};
    /// The codec's side of [`ListItem`](super::ListItem).
    pub trait Sealed<'a>: Sized {
        /// Reads the next item from validated wire bytes starting at `*pos`,
        /// skipping TLVs of other types; `None` at the end.
        fn next_from_wire(bytes: &'a [u8], pos: &mut usize) -> Option<Self>;
        /// Writes the item.
        fn write(&self, w: &mut Writer<'_>) -> Result<(), Error>;
    }
}

/// An item a [`List`] can hold: the codec's reprs and `IpAddr` (sealed).
pub trait ListItem<'a>: Copy + sealed::Sealed<'a> + 'a {}

impl<'a, T: Copy + sealed::Sealed<'a> + 'a> ListItem<'a> for T {}

#[derive(Clone, Copy)]
enum Inner<'a, T> {
    Wire { bytes: &'a [u8], count: usize },
    Slice(&'a [T]),
}

/// A list of items that is either a view of parsed bytes, decoded lazily as
/// it is iterated (no allocation, nothing copied up front), or a slice the
/// caller owns, to emit.
///
/// Parsed lists were validated completely by `parse`, so iterating them
/// cannot fail. Two lists are equal when they yield equal items, whichever
/// way they are stored.
#[derive(Clone, Copy)]
pub struct List<'a, T> {
    inner: Inner<'a, T>,
}

impl<'a, T: ListItem<'a>> List<'a, T> {
    /// The empty list.
    pub const fn empty() -> Self {
        List {
            inner: Inner::Slice(&[]),
        }
    }
    /// A list of the caller's items.
    pub const fn from_slice(items: &'a [T]) -> Self {
        List {
            inner: Inner::Slice(items),
        }
    }
    /// A view of validated wire bytes holding `count` items.
    pub(crate) const fn from_wire(bytes: &'a [u8], count: usize) -> Self {
        List {
            inner: Inner::Wire { bytes, count },
        }
    }
    /// The number of items.
    pub const fn len(&self) -> usize {
        match self.inner {
            Inner::Wire { count, .. } => count,
            Inner::Slice(s) => s.len(),
        }
    }
    /// Whether the list has no items.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The first item.
    pub fn first(&self) -> Option<T> {
        self.iter().next()
    }
    /// The items, in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        ListIter {
            inner: match self.inner {
                Inner::Wire { bytes, count } => IterInner::Wire {
                    bytes,
                    pos: 0,
                    remaining: count,
                },
                Inner::Slice(s) => IterInner::Slice(s.iter()),
            },
        }
    }
    /// For a parsed list, the region of the input it was read from (which
    /// may also hold other parameters); `None` for a caller's slice.
    pub const fn wire_bytes(&self) -> Option<&'a [u8]> {
        match self.inner {
            Inner::Wire { bytes, .. } => Some(bytes),
            Inner::Slice(_) => None,
        }
    }
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), super::Error> {
        for item in self.iter() {
            item.write(w)?;
        }
        Ok(())
    }
}

impl<'a, T: ListItem<'a>> Default for List<'a, T> {
    fn default() -> Self {
        List::empty()
    }
}

impl<'a, T: ListItem<'a>> From<&'a [T]> for List<'a, T> {
    fn from(items: &'a [T]) -> Self {
        List::from_slice(items)
    }
}

impl<'a, T: ListItem<'a>, const N: usize> From<&'a [T; N]> for List<'a, T> {
    fn from(items: &'a [T; N]) -> Self {
        List::from_slice(items)
    }
}

impl<'a, T: ListItem<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: ListItem<'a> + Eq> Eq for List<'a, T> {}

impl<'a, T: ListItem<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: ListItem<'a>> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'a, T>;
    fn into_iter(self) -> ListIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: ListItem<'a>> IntoIterator for &List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'a, T>;
    fn into_iter(self) -> ListIter<'a, T> {
        self.iter()
    }
}

#[derive(Clone)]
enum IterInner<'a, T> {
    Wire {
        bytes: &'a [u8],
        pos: usize,
        remaining: usize,
    },
    Slice(core::slice::Iter<'a, T>),
}

/// Iterator over a [`List`].
#[derive(Clone)]
pub struct ListIter<'a, T> {
    inner: IterInner<'a, T>,
}

impl<'a, T: ListItem<'a>> Iterator for ListIter<'a, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        match &mut self.inner {
            IterInner::Wire {
                bytes,
                pos,
                remaining,
            } => {
                if *remaining == 0 {
                    return None;
                }
                let item = T::next_from_wire(bytes, pos);
                *remaining = if item.is_some() { *remaining - 1 } else { 0 };
                item
            }
            IterInner::Slice(it) => it.next().copied(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            IterInner::Wire { remaining, .. } => *remaining,
            IterInner::Slice(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl<'a, T: ListItem<'a>> ExactSizeIterator for ListIter<'a, T> {}

impl<'a, T: ListItem<'a> + fmt::Display> List<'a, T> {
    /// Writes the items separated by `sep`.
    pub(crate) fn fmt_joined(&self, f: &mut fmt::Formatter<'_>, sep: &str) -> fmt::Result {
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}
