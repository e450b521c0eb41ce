//! Unit tests of the netplan reader and the ifupdown renderer.
