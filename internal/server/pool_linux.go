package server

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unread is how many bytes the kernel holds for c that the server has not
// read yet (SIOCINQ, tcp(7)); ok is false when it cannot tell.
func unread(c net.Conn) (n int, ok bool) { return queued(c, unix.SIOCINQ) }

// unacked is how many bytes the server wrote to c that its client has not
// acknowledged yet (SIOCOUTQ, tcp(7)): sent but not received, or not sent
// because the client's receive window is full; ok is false when it cannot
// tell.
func unacked(c net.Conn) (n int, ok bool) { return queued(c, unix.SIOCOUTQ) }

// received is how many bytes the kernel has received from c's client
// since it connected, read or not (tcpi_bytes_received of TCP_INFO,
// tcp(7)); ok is false when it cannot tell.
func received(c net.Conn) (n uint64, ok bool) {
	var info *unix.TCPInfo
	var ierr error
	if !control(c, func(fd int) { info, ierr = unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO) }) || ierr != nil {
		return 0, false
	}
	return info.Bytes_received, true
}

// queued asks the kernel about c's queues with ioctl req.
func queued(c net.Conn, req uint) (n int, ok bool) {
	var ierr error
	if !control(c, func(fd int) { n, ierr = unix.IoctlGetInt(fd, req) }) || ierr != nil {
		return 0, false
	}
	return n, true
}

// control runs f on c's socket; it reports false when c has none.
func control(c net.Conn, f func(fd int)) bool {
	sc, isSys := c.(syscall.Conn)
	if !isSys {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	return raw.Control(func(fd uintptr) { f(int(fd)) }) == nil
}
