//go:build linux || darwin || freebsd

package ort

/*
#include <signal.h>
#include <string.h>

#ifndef NSIG
#define NSIG 65
#endif

static struct sigaction scorelens_saved[NSIG];

// scorelens_save_signals records the current disposition of every signal.
static void scorelens_save_signals(void) {
	for (int i = 1; i < NSIG; i++) {
		memset(&scorelens_saved[i], 0, sizeof scorelens_saved[i]);
		sigaction(i, NULL, &scorelens_saved[i]);
	}
}

// scorelens_restore_signals puts back every disposition that changed since the last save
// and returns how many it restored.
static int scorelens_restore_signals(void) {
	int n = 0;
	for (int i = 1; i < NSIG; i++) {
		struct sigaction cur;
		if (sigaction(i, NULL, &cur) != 0) continue;
		if (cur.sa_handler != scorelens_saved[i].sa_handler || cur.sa_flags != scorelens_saved[i].sa_flags) {
			if (sigaction(i, &scorelens_saved[i], NULL) == 0) n++;
		}
	}
	return n;
}

static void scorelens_plain_handler(int sig) { (void)sig; }

// scorelens_clobber installs a handler the way a C library does, without SA_ONSTACK,
// which the Go runtime refuses to run under (used by the tests).
static void scorelens_clobber(int sig) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = scorelens_plain_handler;
	sigaction(sig, &sa, NULL);
}
*/
import "C"

import "sync"

// The CUDA execution provider (through the CUDA runtime and cuDNN it loads) installs
// signal handlers of its own without SA_ONSTACK; the next signal then kills the process
// with "non-Go code set up signal handler without SA_ONSTACK flag" (onnxruntime_go issue
// 140). Calling signal.Notify again does not help: the Go runtime only installs a handler
// for a signal it is not already handling. So every call that may initialise CUDA runs
// inside withGoSignals, which saves the dispositions before and restores those that
// changed afterwards.
var signalMu sync.Mutex

// withGoSignals runs f and then restores the signal handlers that f replaced. It returns
// f's error and how many handlers it restored.
func withGoSignals(f func() error) (restored int, err error) {
	signalMu.Lock()
	defer signalMu.Unlock()
	C.scorelens_save_signals()
	err = f()
	return int(C.scorelens_restore_signals()), err
}

// clobberSignal installs a plain C handler for sig (tests only).
func clobberSignal(sig int) { C.scorelens_clobber(C.int(sig)) }
