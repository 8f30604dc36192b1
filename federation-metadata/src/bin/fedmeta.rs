//! `fedmeta`: the federation administrator's command line (to be written).

fn main() {}
