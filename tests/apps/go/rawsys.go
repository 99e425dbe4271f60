// rawsys: goroutines that make their own syscalls (syscall.Syscall, the
// raw instruction in Go's runtime) from whatever stack they are on,
// recursing to a different depth first so that the room left below the
// stack pointer varies down to Go's guard (a few hundred bytes). Each
// reads /dev/zero and writes /dev/null (syscalls zpnet sees and gives
// back to the kernel) and sends a UDP datagram through a socket of the
// program's (under zpnet a stack socket), while the garbage collector
// moves their stacks. Prints "ok N" with N the syscalls made, exits 1 on
// a wrong result.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

const (
	goroutines = 200
	rounds     = 200
)

var failed int32

func sys(nr, a1, a2, a3 uintptr) (uintptr, syscall.Errno) {
	r, _, e := syscall.Syscall(nr, a1, a2, a3)
	return r, e
}

// at depth 0: the syscalls, on a stack with little room below
func deep(n int, zero, null int, udp *net.UDPConn, buf []byte) int {
	if n > 0 {
		var pad [16]byte
		pad[n%16] = byte(n)
		return deep(n-1, zero, null, udp, buf) + int(pad[n%16]) - n%256
	}
	r, e := sys(syscall.SYS_READ, uintptr(zero), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 || r != uintptr(len(buf)) || buf[0] != 0 {
		failed = 1
	}
	r, e = sys(syscall.SYS_WRITE, uintptr(null), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 || r != uintptr(len(buf)) {
		failed = 1
	}
	if _, err := udp.Write(buf[:32]); err != nil {
		failed = 1
	}
	return 3
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rawsys UDP-ADDR:PORT")
		os.Exit(2)
	}
	zero, err := syscall.Open("/dev/zero", syscall.O_RDONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	null, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	raddr, err := net.ResolveUDPAddr("udp4", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	udp, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf := make([]byte, 64)
			n := 0
			for i := 0; i < rounds; i++ {
				n += deep((g*7+i)%64, zero, null, udp, buf)
				if i%50 == 0 {
					runtime.GC()
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	if failed != 0 {
		fmt.Println("a syscall gave a wrong result")
		os.Exit(1)
	}
	fmt.Println("ok", total)
}
