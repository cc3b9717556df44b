package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestSASL authenticates to a broker that requires SASL (kfake) with every
// mechanism odsync offers, and checks that a wrong password is refused.
func TestSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plainuser", "plainpw"),
		kfake.Superuser("SCRAM-SHA-256", "user256", "pw256"),
		kfake.Superuser("SCRAM-SHA-512", "user512", "pw512"),
		kfake.SeedTopics(2, "cdc"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct{ mech, user, pass string }{
		{"plain", "plainuser", "plainpw"},
		{"scram-sha-256", "user256", "pw256"},
		{"scram-sha-512", "user512", "pw512"},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			cfg := SourceConfig{Brokers: c.ListenAddrs(), Topics: []string{"cdc"}}
			cfg.SASL = SASLConfig{Mechanism: tc.mech, User: tc.user, Password: tc.pass}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			lines, err := Check(ctx, cfg)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if got := strings.Join(lines, "\n"); !strings.Contains(got, "topic cdc: 2 partitions") {
				t.Fatalf("check output:\n%s", got)
			}
			cfg.SASL.Password = "wrong"
			ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel2()
			if _, err := Check(ctx2, cfg); err == nil {
				t.Fatalf("%s with a wrong password: no error", tc.mech)
			}
		})
	}
}
