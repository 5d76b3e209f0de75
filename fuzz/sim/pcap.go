package sim

import (
	"io"

	"github.com/netspec/netspec/driver/pcap"
)

// PcapWriter writes the frames of a run to a pcap file (driver/pcap's writer).
type PcapWriter = pcap.Writer

// NewPcapWriter writes the global header to w and returns the writer.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) { return pcap.NewWriter(w) }
