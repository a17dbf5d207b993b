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

// queued asks the kernel about c's queues with ioctl req.
func queued(c net.Conn, req uint) (n int, ok bool) {
	sc, isSys := c.(syscall.Conn)
	if !isSys {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), req) }); err != nil || ierr != nil {
		return 0, false
	}
	return n, true
}
