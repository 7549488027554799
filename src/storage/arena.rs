//! Arenas of nodes addressed by [`NodeId`](super::NodeId).
