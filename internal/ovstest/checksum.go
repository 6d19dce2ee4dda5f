package ovstest

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is the kernel's struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqPtr is the kernel's struct ifreq with a pointer in its union.
type ifreqPtr struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// DisableTxChecksum turns off transmit checksum offload on ifname in
// network namespace ns (what `ethtool -K ifname tx off` does); an error
// fails t. A veth otherwise hands TCP and UDP packets with unfinished
// checksums to OVS's userspace datapath, which forwards them unfinished,
// and the receiver drops them.
func DisableTxChecksum(t testing.TB, ns, ifname string) {
	t.Helper()
	InNetNS(t, ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("disable tx checksum offload on %s: %w", ifname, err)
		}
		defer unix.Close(fd)
		value := ethtoolValue{cmd: unix.ETHTOOL_STXCSUM}
		req := ifreqPtr{data: unsafe.Pointer(&value)}
		copy(req.name[:], ifname)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req)))
		runtime.KeepAlive(&value)
		if errno != 0 {
			return fmt.Errorf("disable tx checksum offload on %s in %s: %w", ifname, ns, errno)
		}
		return nil
	})
}
