//! The socket system calls the standard library lacks, fenced here with
//! the other process syscalls: passing a file descriptor to another
//! process over a unix socket (SCM_RIGHTS — how the TCP main process hands
//! connections to its readers and to workers that send on them), waiting
//! for one descriptor to become writable with a timeout, and opening SCTP
//! sockets.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends `data` over `sock`, with `fd` attached when given (the receiver
/// gets its own descriptor for the same open file).
pub fn send_with_fd(sock: &UnixDatagram, data: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<usize> {
    let Some(fd) = fd else { return sock.send(data) };
    let raw = fd.as_raw_fd();
    // Room for one cmsghdr carrying one int, aligned as the kernel wants.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as _;
    assert!(msg.msg_controllen as usize <= std::mem::size_of_val(&control));
    // SAFETY: msg_control points at `control`, large enough (checked just
    // above) for the one header CMSG_FIRSTHDR returns; the header and its
    // int payload are written inside that buffer.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), raw);
    }
    // SAFETY: `msg` points at live buffers (data, control) for the call;
    // `raw` stays open for its duration (borrowed).
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Receives one datagram into `buf` and the descriptor attached to it, if
/// any. Descriptors beyond the first are closed (the protocol passes one).
pub fn recv_with_fd(sock: &UnixDatagram, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: plain old data, all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `buf` and `control`, both live and writable
    // for their stated lengths; MSG_CMSG_CLOEXEC keeps received fds from
    // leaking into exec'd programs.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fd = None;
    // SAFETY: the kernel filled `control` and msg_controllen; the CMSG
    // macros walk only inside it. Every descriptor found is owned by this
    // process now (the kernel installed it), so wrapping each in an
    // OwnedFd exactly once is sound.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let header = libc::CMSG_LEN(0) as usize;
                let count = ((*cmsg).cmsg_len as usize).saturating_sub(header) / std::mem::size_of::<libc::c_int>();
                for i in 0..count {
                    let raw = std::ptr::read_unaligned(data.add(i));
                    let owned = OwnedFd::from_raw_fd(raw);
                    if fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, fd))
}

/// Waits until `fd` can be written (or has an error to report), at most
/// `timeout`. `Ok(false)` when the time ran out.
pub fn wait_writable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    loop {
        // SAFETY: one valid pollfd for the call's duration.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(rc > 0);
    }
}

/// Sets the accept queue length of a listening socket (std binds with a
/// fixed 128; a SIP server taking bursts of new connections needs more —
/// Kamailio uses 1024). Calling listen() again on a listening socket only
/// changes its backlog.
pub fn set_listen_backlog(fd: BorrowedFd<'_>, backlog: u32) -> io::Result<()> {
    let n = backlog.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: listen() on a descriptor the caller keeps open; integers only.
    if unsafe { libc::listen(fd.as_raw_fd(), n) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Grows the socket's receive buffer to `max` bytes (what `setsockopt`
/// takes; the kernel books twice that) unless it is that large already,
/// as Kamailio does with `maxbuffer`: a burst of datagrams waits in it
/// instead of being dropped while every worker is busy. The kernel caps
/// the request at `net.core.rmem_max`; never shrinks. Returns the size
/// the kernel reports afterwards.
pub fn grow_recv_buffer(fd: BorrowedFd<'_>, max: u32) -> io::Result<u32> {
    let current = recv_buffer(fd)?;
    let want = max.min(i32::MAX as u32 / 2) as libc::c_int;
    if current >= 2 * want as u32 {
        return Ok(current);
    }
    // SAFETY: setsockopt() reads `size_of::<c_int>()` bytes from a live
    // local; the descriptor is kept open by the caller.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&want as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    recv_buffer(fd)
}

/// The socket's receive buffer size as the kernel reports it.
pub fn recv_buffer(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt() writes at most `len` bytes into the live local
    // `v` and updates `len`; the descriptor is kept open by the caller.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v.max(0) as u32)
}

/// Whether the kernel offers SCTP (a one-to-many socket can be created).
pub fn sctp_supported() -> bool {
    sctp_raw_socket(false).is_ok()
}

fn sctp_raw_socket(ipv6: bool) -> io::Result<OwnedFd> {
    let family = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: socket() takes plain integers; a non-negative result is a
    // new descriptor this process owns.
    let fd = unsafe { libc::socket(family, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, libc::IPPROTO_SCTP) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A socket address in the kernel's layout.
fn to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(ss).cast::<libc::sockaddr_in>(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(ss).cast::<libc::sockaddr_in6>(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Back from the kernel's layout.
fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A one-to-many SCTP socket (`SOCK_SEQPACKET`, RFC 6458 §3): message
/// boundaries kept, peers addressed per message with sendto/recvfrom as
/// for UDP, associations set up and torn down by the kernel.
#[derive(Debug)]
pub struct SctpSocket(OwnedFd);

impl SctpSocket {
    /// A socket bound to `addr` and accepting associations.
    pub fn bind(addr: SocketAddr) -> io::Result<SctpSocket> {
        let fd = sctp_raw_socket(addr.is_ipv6())?;
        let (ss, len) = to_sockaddr(addr);
        // SAFETY: `ss` holds a valid address of `len` bytes for the call.
        if unsafe { libc::bind(fd.as_raw_fd(), std::ptr::addr_of!(ss).cast(), len) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: listen() on our descriptor; integers only.
        if unsafe { libc::listen(fd.as_raw_fd(), 1024) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SctpSocket(fd))
    }

    /// Receives one message: its length and sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // SAFETY: plain old data, all-zero is valid.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `buf`, `ss` and `len` are live and writable for their
        // stated sizes for the call.
        let n = unsafe {
            libc::recvfrom(
                self.0.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                std::ptr::addr_of_mut!(ss).cast(),
                &mut len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let from = from_sockaddr(&ss).ok_or_else(|| io::Error::other("SCTP message from an unknown address family"))?;
        Ok((n as usize, from))
    }

    /// Sends one message to `to` (an association is set up when needed).
    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        let (ss, len) = to_sockaddr(to);
        // SAFETY: `data` and `ss` are live for the call.
        let n = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL,
                std::ptr::addr_of!(ss).cast(),
                len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        // SAFETY: plain old data, all-zero is valid.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `ss` and `len` are live and writable for the call.
        if unsafe { libc::getsockname(self.0.as_raw_fd(), std::ptr::addr_of_mut!(ss).cast(), &mut len) } != 0 {
            return Err(io::Error::last_os_error());
        }
        from_sockaddr(&ss).ok_or_else(|| io::Error::other("unknown address family"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn receive_buffer_grows_never_shrinks() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = recv_buffer(s.as_fd()).unwrap();
        // smaller than what it has: unchanged
        assert_eq!(grow_recv_buffer(s.as_fd(), 4096).unwrap(), before);
        // larger: the kernel books twice the request (when rmem_max allows)
        let want = before + 65536;
        let after = grow_recv_buffer(s.as_fd(), want).unwrap();
        assert!(after > before, "{before} -> {after}");
        assert!(after <= 2 * want);
    }

    #[test]
    fn a_descriptor_crosses_a_socket_pair() {
        let (a, b) = UnixDatagram::pair().unwrap();
        let (mut s1, s2) = std::os::unix::net::UnixStream::pair().unwrap();
        send_with_fd(&a, b"N1", Some(s2.as_fd())).unwrap();
        drop(s2);
        let mut buf = [0u8; 16];
        let (n, fd) = recv_with_fd(&b, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"N1");
        let mut s2: std::os::unix::net::UnixStream = fd.expect("a descriptor").into();
        s1.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        s2.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        // and without one
        send_with_fd(&a, b"X", None).unwrap();
        let (n, fd) = recv_with_fd(&b, &mut buf).unwrap();
        assert_eq!((&buf[..n], fd.is_none()), (&b"X"[..], true));
    }

    #[test]
    fn addresses_round_trip_the_kernel_layout() {
        for a in ["127.0.0.1:5060", "[::1]:5061", "[fe80::1%2]:9"] {
            let addr: SocketAddr = a.parse().unwrap();
            let (ss, _) = to_sockaddr(addr);
            assert_eq!(from_sockaddr(&ss), Some(addr), "{a}");
        }
    }

    #[test]
    fn sctp_where_the_kernel_has_it() {
        match SctpSocket::bind("127.0.0.1:0".parse().unwrap()) {
            Ok(a) => {
                // the kernel has SCTP: a message crosses loopback whole
                let b = SctpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let to = b.local_addr().unwrap();
                a.send_to(b"OPTIONS sip:x SIP/2.0", to).unwrap();
                let mut buf = [0u8; 64];
                let (n, from) = b.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..n], b"OPTIONS sip:x SIP/2.0");
                assert_eq!(from.port(), a.local_addr().unwrap().port());
                assert!(sctp_supported());
            }
            Err(e) => {
                // no SCTP here: the error says so, and so does the probe
                assert!(
                    matches!(
                        e.raw_os_error(),
                        Some(libc::EPROTONOSUPPORT | libc::ESOCKTNOSUPPORT | libc::EAFNOSUPPORT)
                    ),
                    "{e}"
                );
                assert!(!sctp_supported());
            }
        }
    }

    #[test]
    fn writable_and_timeout() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(wait_writable(a.as_fd(), Duration::from_millis(10)).unwrap());
        // fill the pipe: then it is not writable within the timeout
        a.set_nonblocking(true).unwrap();
        let chunk = [0u8; 65536];
        while (&a).write(&chunk).is_ok() {}
        assert!(!wait_writable(a.as_fd(), Duration::from_millis(20)).unwrap());
    }
}
