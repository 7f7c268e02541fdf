package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// interruptedBy records the signal (SIGINT or SIGTERM) that ended a command's context, so
// that run exits with 128 plus its number (130, 143), as shells and schedulers expect of a
// program a signal stopped, instead of 1.
var interruptedBy atomic.Int32

// signalContext returns a context that the first SIGINT or SIGTERM cancels, recording the
// signal; after that one the signals' default action is back, so that a second ends the
// process at once. notice, when not empty, is printed on stderr as the first one arrives.
// stop releases the signals.
func signalContext(notice string) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Reset(syscall.SIGINT, syscall.SIGTERM)
			if n, ok := s.(syscall.Signal); ok {
				interruptedBy.Store(int32(n))
			}
			if notice != "" {
				os.Stderr.WriteString(notice + "\n")
			}
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(sigs)
		cancel()
	}
}

// interruptStatus returns the exit status of a command a signal stopped, or 0 when none did.
func interruptStatus() int {
	if n := interruptedBy.Load(); n != 0 {
		return 128 + int(n)
	}
	return 0
}
