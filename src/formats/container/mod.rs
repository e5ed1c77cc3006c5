//! Containers that hold other files: they list their members and read a member's bytes, and
//! leave it to the readers in `formats` to say what the members are (an .npz or a PyTorch
//! checkpoint claims a zip by its member names).

pub mod zip;
