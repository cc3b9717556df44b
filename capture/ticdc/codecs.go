package ticdc

import "errors"

// Decoder decodes one Kafka message. Implementations are not safe for
// concurrent use: use one decoder per partition reader.
type Decoder interface {
	Decode(key, value []byte) ([]Decoded, error)
}

// New builds the decoder cfg.Protocol names.
func New(cfg Config) (Decoder, error) {
	switch cfg.Protocol {
	case ProtocolCanalJSON:
		return NewCanalJSON(cfg)
	case ProtocolCanal:
		return NewCanalFlat(cfg)
	case ProtocolOpen:
		return NewOpenProtocol(cfg)
	case ProtocolDebezium:
		return NewDebezium(cfg)
	case ProtocolMaxwell:
		return NewMaxwell(cfg)
	case "":
		return nil, errors.New("ticdc: protocol is empty")
	}
	cfg.EnsureDefaults()
	return nil, cfg.Validate()
}
