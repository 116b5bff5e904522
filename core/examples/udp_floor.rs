//! The floor of the server benchmark: a UDP responder that does no SIP
//! work at all. Each of N threads blocks in `recv_from` on one socket (as
//! sipr's and Kamailio's UDP workers do), turns the request line into
//! `SIP/2.0 200 OK` without parsing anything else, and `send_to`s it
//! back — the same two syscalls and wake-ups per request as a real
//! server. `make bench` runs it beside sipr and Kamailio so the CPU table
//! shows how much of a request's cost is the kernel's and not a server's.
//!
//! usage: udp_floor ADDR:PORT THREADS

use std::net::UdpSocket;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(threads)) = (args.next(), args.next().and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: udp_floor ADDR:PORT THREADS");
        std::process::exit(2);
    };
    let sock = UdpSocket::bind(&addr)?;
    let mut workers = Vec::with_capacity(threads);
    for _ in 0..threads.max(1) {
        let sock = sock.try_clone()?;
        workers.push(std::thread::spawn(move || -> std::io::Result<()> {
            let mut buf = vec![0u8; 65_535];
            let mut out = Vec::with_capacity(65_535);
            loop {
                let (len, src) = sock.recv_from(&mut buf)?;
                let req = &buf[..len];
                // everything from the request line's end on is kept
                let Some(nl) = req.iter().position(|&b| b == b'\n') else { continue };
                out.clear();
                out.extend_from_slice(b"SIP/2.0 200 OK\r");
                out.extend_from_slice(&req[nl..]);
                sock.send_to(&out, src)?;
            }
        }));
    }
    for w in workers {
        if let Ok(Err(e)) = w.join() {
            eprintln!("udp_floor: {e}");
        }
    }
    Ok(())
}
