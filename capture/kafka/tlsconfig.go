package kafka

import "crypto/tls"

// ClientTLS returns the TLS configuration of the brokers (nil when TLS is
// off), for other Kafka clients of odsync (the Kafka sink) that share the
// source's tls keys.
func (c *TLSConfig) ClientTLS() (*tls.Config, error) { return c.config() }
