//! The staging format in which JavaScript hands a batch of writes to the native layer.
//!
//! JavaScript copies each key and value into one staging buffer when `put`/`delete` is
//! called (so later changes to the caller's buffers cannot alter the write), and passes the
//! whole buffer across the boundary once per batch. Per operation:
//!
//! ```text
//! kind:u8 (1 put, 2 delete)  0:u8  key_len:u16le  value_len:u32le  key  value
//! ```

use simd_r_drive::Op;

use crate::errors::coded;

/// `kind` of a staged Put (`OP_PUT` in `lib/scratch.js`).
pub const OP_PUT: u8 = 1;
/// `kind` of a staged Delete (`OP_DELETE` in `lib/scratch.js`).
pub const OP_DELETE: u8 = 2;

/// Length of the fixed part of one staged operation.
pub const OP_HEADER_LEN: usize = 8;

/// Parses `count` staged operations from `bytes`.
pub fn parse(bytes: &[u8], count: u32) -> napi::Result<Vec<Op<'_>>> {
    let bad = || {
        coded(
            "ERR_INTERNAL",
            "malformed staging buffer (a bug in simd-r-drive)",
        )
    };
    let mut ops = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for _ in 0..count {
        let head = bytes.get(at..at + OP_HEADER_LEN).ok_or_else(bad)?;
        let key_len = u16::from_le_bytes([head[2], head[3]]) as usize;
        let value_len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let key_start = at + OP_HEADER_LEN;
        let value_start = key_start + key_len;
        let end = value_start.checked_add(value_len).ok_or_else(bad)?;
        let key = bytes.get(key_start..value_start).ok_or_else(bad)?;
        let value = bytes.get(value_start..end).ok_or_else(bad)?;
        ops.push(match head[0] {
            OP_PUT => Op::Put { key, value },
            OP_DELETE if value_len == 0 => Op::Delete { key },
            _ => return Err(bad()),
        });
        at = end;
    }
    if at != bytes.len() {
        return Err(bad());
    }
    Ok(ops)
}
