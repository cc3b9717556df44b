package kafka

import (
	"errors"

	"github.com/odsync/odsync/capture/kafka/canal"
	"github.com/odsync/odsync/capture/kafka/codec"
	"github.com/odsync/odsync/capture/kafka/debezium"
	"github.com/odsync/odsync/capture/kafka/maxwell"
	"github.com/odsync/odsync/capture/kafka/odsync"
	"github.com/odsync/odsync/capture/kafka/open"
)

// Decoder decodes one Kafka message. Implementations are not safe for
// concurrent use: use one decoder per partition reader.
type Decoder interface {
	Decode(key, value []byte) ([]codec.Decoded, error)
}

// New builds the decoder cfg.Protocol names.
func New(cfg codec.Config) (Decoder, error) {
	switch cfg.Protocol {
	case codec.ProtocolCanalJSON:
		return canal.NewCanalJSON(cfg)
	case codec.ProtocolCanal:
		return canal.NewCanalFlat(cfg)
	case codec.ProtocolOpen:
		return open.NewOpenProtocol(cfg)
	case codec.ProtocolDebezium:
		return debezium.NewDebezium(cfg)
	case codec.ProtocolMaxwell:
		return maxwell.NewMaxwell(cfg)
	case codec.ProtocolOdsync:
		return odsync.NewOdsync(cfg)
	case "":
		return nil, errors.New("ticdc: protocol is empty")
	}
	cfg.EnsureDefaults()
	return nil, cfg.Validate()
}
