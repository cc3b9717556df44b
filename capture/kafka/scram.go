package kafka

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// scramMechanism is a SASL SCRAM-SHA-256/512 client (RFC 5802, no channel
// binding), as Kafka brokers implement it.
type scramMechanism struct {
	name     string
	hash     func() hash.Hash
	user     string
	password string
}

func newScram(name string, h func() hash.Hash, user, password string) *scramMechanism {
	return &scramMechanism{name: name, hash: h, user: user, password: password}
}

var _ sasl.Mechanism = (*scramMechanism)(nil)

func (m *scramMechanism) Name() string { return m.name }

func (m *scramMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	nonce := make([]byte, 24)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	s := &scramSession{m: m, nonce: base64.RawStdEncoding.EncodeToString(nonce)}
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(m.user)
	s.clientFirstBare = "n=" + user + ",r=" + s.nonce
	return s, []byte("n,," + s.clientFirstBare), nil
}

type scramSession struct {
	m               *scramMechanism
	nonce           string
	clientFirstBare string
	serverSignature []byte
	step            int
}

func (s *scramSession) Next(ctx context.Context, challenge []byte) (bool, []byte, error) {
	s.step++
	switch s.step {
	case 1:
		return s.final(string(challenge))
	case 2:
		attrs := scramAttrs(string(challenge))
		if e, ok := attrs["e"]; ok {
			return false, nil, fmt.Errorf("scram: server error: %s", e)
		}
		v, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || subtle.ConstantTimeCompare(v, s.serverSignature) != 1 {
			return false, nil, errors.New("scram: the server signature does not verify")
		}
		return true, nil, nil
	}
	return false, nil, errors.New("scram: unexpected challenge")
}

func (s *scramSession) final(serverFirst string) (bool, []byte, error) {
	attrs := scramAttrs(serverFirst)
	nonce, saltB64, iterText := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return false, nil, errors.New("scram: the server nonce does not extend the client nonce")
	}
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil {
		return false, nil, fmt.Errorf("scram: salt: %w", err)
	}
	iter, err := strconv.Atoi(iterText)
	if err != nil || iter < 1 {
		return false, nil, fmt.Errorf("scram: iteration count %q", iterText)
	}
	h := s.m.hash
	salted, err := pbkdf2.Key(h, s.m.password, salt, iter, h().Size())
	if err != nil {
		return false, nil, err
	}
	clientKey := hmacSum(h, salted, "Client Key")
	hs := h()
	hs.Write(clientKey)
	storedKey := hs.Sum(nil)
	finalNoProof := "c=biws,r=" + nonce
	authMessage := s.clientFirstBare + "," + serverFirst + "," + finalNoProof
	clientSig := hmacSum(h, storedKey, authMessage)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ clientSig[i]
	}
	serverKey := hmacSum(h, salted, "Server Key")
	s.serverSignature = hmacSum(h, serverKey, authMessage)
	return false, []byte(finalNoProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	mac := hmac.New(h, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

func scramAttrs(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(part, "="); ok {
			out[k] = v
		}
	}
	return out
}
