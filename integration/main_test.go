// Integration tests against real components: a private MariaDB started by
// the harness and the odsync binary run as a child process.
package integration

import (
	"os"
	"testing"

	"github.com/odsync/odsync/integration/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.StopMariaDB()
	stopMySQLTarget()
	harness.StopTiDB()
	harness.Cleanup()
	os.Exit(code)
}
