//! The handlespace: pools keyed by pool handle, pool elements keyed by
//! (pool, PE id), selection by policy, ownership, timers and checksums.
