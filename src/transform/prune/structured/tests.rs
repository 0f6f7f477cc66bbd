//! Unit tests of the channel groups.
