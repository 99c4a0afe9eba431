//! Just enough of ELF to tell whether a preloaded library can reach a program: the file header
//! (class, machine, type) and the program headers (`PT_INTERP`: a dynamic loader runs;
//! `PT_DYNAMIC`: dynamic linking information). 32- and 64-bit, little-endian (the only byte
//! order the machines mqshim runs on execute).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// `ET_DYN`: a shared object (also a position-independent executable).
pub const ET_DYN: u16 = 3;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
/// `DT_FLAGS_1`, and its `DF_1_PIE` bit: an executable, which the dynamic loader will not load
/// as a library ("cannot dynamically load position-independent executable").
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DF_1_PIE: u64 = 0x0800_0000;
/// The largest dynamic section read.
const MAX_DYNAMIC: u64 = 1 << 20;
/// Program headers beyond this many are not read (real files have a dozen or so).
const MAX_PROGRAM_HEADERS: usize = 4096;
/// The longest interpreter path read (PATH_MAX).
const MAX_INTERPRETER: u64 = 4096;

/// What the headers of an ELF file say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elf {
    /// 32 or 64.
    pub bits: u8,
    /// `e_machine`.
    pub machine: u16,
    /// `e_type`: 2 (`ET_EXEC`, a fixed-address executable), [`ET_DYN`], …
    pub kind: u16,
    /// The `PT_INTERP` path: the dynamic loader the kernel starts for this program.
    pub interpreter: Option<PathBuf>,
    /// Whether there is a `PT_DYNAMIC` segment.
    pub dynamic: bool,
    /// Whether the dynamic section marks it a position-independent executable (`DF_1_PIE`).
    pub pie: bool,
}

impl Elf {
    /// "64-bit x86-64", "32-bit i386": how a message names the file's kind.
    pub fn describe(&self) -> String {
        let machine = match self.machine {
            3 => "i386".to_string(),
            8 => "MIPS".to_string(),
            20 => "PowerPC".to_string(),
            21 => "PowerPC64".to_string(),
            22 => "S/390".to_string(),
            40 => "ARM".to_string(),
            62 => "x86-64".to_string(),
            183 => "AArch64".to_string(),
            243 => "RISC-V".to_string(),
            258 => "LoongArch".to_string(),
            other => format!("machine {other}"),
        };
        format!("{}-bit {machine}", self.bits)
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether `start` (the first bytes of a file) is an ELF file.
pub fn is_elf(start: &[u8]) -> bool {
    start.starts_with(b"\x7fELF")
}

/// Reads the headers of the ELF file at `path`. Errors say what is wrong with the file (not
/// ELF, truncated, big-endian, unknown class) or why it could not be read.
pub fn read(path: &Path) -> Result<Elf, String> {
    let file = File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let read_exact_at = |len: usize, offset: u64| -> Result<Vec<u8>, String> {
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, offset).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "it is a truncated ELF file".to_string(),
            _ => format!("cannot read it: {e}"),
        })?;
        Ok(buf)
    };
    let mut ident = [0u8; 16];
    let got = file.read_at(&mut ident, 0).map_err(|e| format!("cannot read it: {e}"))?;
    if !is_elf(&ident[..got]) {
        return Err("it is not an ELF file".to_string());
    }
    if got < 16 {
        return Err("it is a truncated ELF file".to_string());
    }
    if ident[5] != 1 {
        return Err("it is not a little-endian ELF file".to_string());
    }
    let bits = match ident[4] {
        1 => 32,
        2 => 64,
        other => return Err(format!("it has an unknown ELF class {other}")),
    };
    // The file header: e_type, e_machine, then e_phoff, e_phentsize, e_phnum at class-dependent offsets.
    let header = read_exact_at(if bits == 64 { 64 } else { 52 }, 0)?;
    let truncated = || "it is a truncated ELF file".to_string();
    let kind = u16_at(&header, 16).ok_or_else(truncated)?;
    let machine = u16_at(&header, 18).ok_or_else(truncated)?;
    let (phoff, phentsize, phnum) = if bits == 64 {
        (u64_at(&header, 32), u16_at(&header, 54), u16_at(&header, 56))
    } else {
        (u32_at(&header, 28).map(u64::from), u16_at(&header, 42), u16_at(&header, 44))
    };
    let (phoff, phentsize, phnum) = (phoff.ok_or_else(truncated)?, usize::from(phentsize.ok_or_else(truncated)?), usize::from(phnum.ok_or_else(truncated)?));
    let mut elf = Elf { bits, machine, kind, interpreter: None, dynamic: false, pie: false };
    let needed = if bits == 64 { 56 } else { 32 };
    if phnum == 0 {
        return Ok(elf);
    }
    if phentsize < needed || phnum > MAX_PROGRAM_HEADERS {
        return Err("its program headers are malformed".to_string());
    }
    let table = read_exact_at(phentsize * phnum, phoff)?;
    for entry in table.chunks_exact(phentsize) {
        let p_type = u32_at(entry, 0).ok_or_else(truncated)?;
        // p_offset and p_filesz: where the segment's bytes are in the file.
        let (offset, size) =
            if bits == 64 { (u64_at(entry, 8), u64_at(entry, 32)) } else { (u32_at(entry, 4).map(u64::from), u32_at(entry, 16).map(u64::from)) };
        let (offset, size) = (offset.ok_or_else(truncated)?, size.ok_or_else(truncated)?);
        match p_type {
            PT_DYNAMIC => {
                elf.dynamic = true;
                let dynamic = read_exact_at(size.min(MAX_DYNAMIC) as usize, offset)?;
                // Entries are (d_tag, d_val) pairs of the class's word size.
                let word = usize::from(bits / 8);
                let value = |at: usize| if bits == 64 { u64_at(&dynamic, at) } else { u32_at(&dynamic, at).map(u64::from) };
                for pair in (0..dynamic.len() / (2 * word)).map(|i| i * 2 * word) {
                    if value(pair) == Some(DT_FLAGS_1) {
                        elf.pie = value(pair + word).is_some_and(|flags| flags & DF_1_PIE != 0);
                    }
                }
            }
            PT_INTERP => {
                if size == 0 || size > MAX_INTERPRETER {
                    return Err("its PT_INTERP is malformed".to_string());
                }
                let mut path = read_exact_at(size as usize, offset)?;
                if let Some(nul) = path.iter().position(|&b| b == 0) {
                    path.truncate(nul);
                }
                elf.interpreter = Some(PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(path)));
            }
            _ => {}
        }
    }
    Ok(elf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ET_EXEC`: a fixed-address executable.
    const ET_EXEC: u16 = 2;

    /// A minimal ELF file: header plus the given program headers (type, offset, size), and
    /// `tail` written after them.
    fn image(bits: u8, kind: u16, machine: u16, headers: &[(u32, u64, u64)], tail: &[u8]) -> Vec<u8> {
        let (ehsize, phentsize) = if bits == 64 { (64usize, 56usize) } else { (52, 32) };
        let mut f = vec![0u8; ehsize];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = if bits == 64 { 2 } else { 1 };
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&kind.to_le_bytes());
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        if bits == 64 {
            f[32..40].copy_from_slice(&(ehsize as u64).to_le_bytes());
            f[54..56].copy_from_slice(&(phentsize as u16).to_le_bytes());
            f[56..58].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        } else {
            f[28..32].copy_from_slice(&(ehsize as u32).to_le_bytes());
            f[42..44].copy_from_slice(&(phentsize as u16).to_le_bytes());
            f[44..46].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        }
        for &(p_type, offset, size) in headers {
            let mut ph = vec![0u8; phentsize];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            if bits == 64 {
                ph[8..16].copy_from_slice(&offset.to_le_bytes());
                ph[32..40].copy_from_slice(&size.to_le_bytes());
            } else {
                ph[4..8].copy_from_slice(&(offset as u32).to_le_bytes());
                ph[16..20].copy_from_slice(&(size as u32).to_le_bytes());
            }
            f.extend(ph);
        }
        f.extend_from_slice(tail);
        f
    }

    fn parse(bytes: &[u8]) -> Result<Elf, String> {
        let path = std::env::temp_dir().join(format!("mqshim-elf-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::write(&path, bytes).unwrap();
        let elf = read(&path);
        std::fs::remove_file(&path).unwrap();
        elf
    }

    #[test]
    fn dynamic_executables_name_their_interpreter() {
        for bits in [32u8, 64] {
            let (ehsize, phentsize) = if bits == 64 { (64u64, 56u64) } else { (52, 32) };
            let interp_at = ehsize + 2 * phentsize;
            // After the interpreter's path, the dynamic section: DT_FLAGS_1 = DF_1_PIE, DT_NULL.
            let mut tail = b"/lib/ld.so\0".to_vec();
            for v in [DT_FLAGS_1, DF_1_PIE, 0, 0] {
                if bits == 64 {
                    tail.extend(v.to_le_bytes());
                } else {
                    tail.extend((v as u32).to_le_bytes());
                }
            }
            let dynamic_size = 4 * u64::from(bits / 8);
            let f = image(bits, ET_DYN, 62, &[(PT_INTERP, interp_at, 11), (PT_DYNAMIC, interp_at + 11, dynamic_size)], &tail);
            let elf = parse(&f).unwrap();
            assert_eq!(elf.bits, bits);
            assert_eq!(elf.kind, ET_DYN);
            assert_eq!(elf.interpreter.as_deref(), Some(Path::new("/lib/ld.so")));
            assert!(elf.dynamic);
            assert!(elf.pie);
        }
    }

    #[test]
    fn static_executables_have_no_interpreter() {
        let elf = parse(&image(64, ET_EXEC, 62, &[(1, 0, 0)], b"")).unwrap();
        assert_eq!(elf.interpreter, None);
        assert!(!elf.dynamic);
        assert!(!elf.pie);
        assert_eq!(elf.describe(), "64-bit x86-64");
    }

    #[test]
    fn damaged_files_are_reported() {
        assert_eq!(parse(b"#!/bin/sh\n").unwrap_err(), "it is not an ELF file");
        assert_eq!(parse(b"\x7fELF\x02\x01").unwrap_err(), "it is a truncated ELF file");
        let mut big_endian = image(64, ET_EXEC, 62, &[], b"");
        big_endian[5] = 2;
        assert_eq!(parse(&big_endian).unwrap_err(), "it is not a little-endian ELF file");
        let f = image(64, ET_EXEC, 62, &[(PT_INTERP, 10_000, 11)], b"");
        assert_eq!(parse(&f).unwrap_err(), "it is a truncated ELF file");
    }
}
