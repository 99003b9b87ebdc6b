//go:build !unix

package socketio_test

// processCPU is not measured here: the CPU metric of the benchmarks reads 0.
func processCPU() int64 { return 0 }
