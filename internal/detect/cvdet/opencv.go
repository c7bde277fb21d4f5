//go:build opencv

package cvdet

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"strings"
	"unsafe"
)

// errLen is the size of the buffer OpenCV's error messages are copied to.
const errLen = 512

// cvError turns the shim's error buffer into an error, keeping the first
// line of OpenCV's message (its text can name the model's layers, never a
// frame).
func cvError(buf []C.char) error {
	msg := strings.TrimSpace(C.GoString(&buf[0]))
	if msg == "" {
		msg = "unknown OpenCV error"
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(msg)
}

// errBuf returns a zeroed error buffer for one shim call.
func errBuf() []C.char { return make([]C.char, errLen) }

// ptr is the shim's view of a Go byte slice, valid for one call.
func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
