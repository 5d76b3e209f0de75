package driver

// Input feeds a batch of received frames to the loop as Run does, for the
// tests of package driver_test that drive a loop without its reader.
func (l *Loop) Input(frames [][]byte, n []int, meta []RxMeta) { l.input(frames, n, meta) }
