// Command coordctl inspects and operates coord elections on any store.
//
// Run "coordctl help" for the commands, flags and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	// One handler for SIGINT and SIGTERM: a command that takes them over
	// (coordctl run, see handleSignals) gets each signal once; the others
	// stop through the context at the first.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for sig := range sigs {
			if !deliverSignal(sig) {
				cancel()
			}
		}
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(code)
}

// signalTo is where main delivers SIGINT and SIGTERM while a command
// handles them itself; nil: they cancel main's context.
var signalTo struct {
	sync.Mutex
	ch chan<- os.Signal
}

// handleSignals sends every later SIGINT and SIGTERM to ch instead of
// cancelling the context, until restore.
func handleSignals(ch chan<- os.Signal) (restore func()) {
	signalTo.Lock()
	prev := signalTo.ch
	signalTo.ch = ch
	signalTo.Unlock()
	return func() {
		signalTo.Lock()
		signalTo.ch = prev
		signalTo.Unlock()
	}
}

func deliverSignal(sig os.Signal) bool {
	signalTo.Lock()
	defer signalTo.Unlock()
	if signalTo.ch == nil {
		return false
	}
	select {
	case signalTo.ch <- sig:
	default: // a full channel has signals enough to act on
	}
	return true
}
