package event

import (
	"testing"
	"time"
)

func TestCivilDays(t *testing.T) {
	for _, tc := range []struct {
		y, m, d int
		days    int64
	}{
		{1970, 1, 1, 0},
		{1969, 12, 31, -1},
		{2000, 2, 29, 11016},
		{2000, 3, 1, 11017},
		{1900, 3, 1, -25508},
		{2024, 2, 29, 19782},
		{1, 1, 1, -719162},
		{9999, 12, 31, 2932896},
		{0, 1, 1, -719528},  // year 0 (1 BC) is a leap year
		{0, 2, 29, -719469}, // its leap day
		{-1, 12, 31, -719529},
		{-400, 1, 1, -865625},
	} {
		if got := DaysFromCivil(tc.y, tc.m, tc.d); got != tc.days {
			t.Errorf("DaysFromCivil(%d-%d-%d) = %d, want %d", tc.y, tc.m, tc.d, got, tc.days)
		}
		if y, m, d := CivilFromDays(tc.days); y != tc.y || m != tc.m || d != tc.d {
			t.Errorf("CivilFromDays(%d) = %d-%d-%d, want %d-%d-%d", tc.days, y, m, d, tc.y, tc.m, tc.d)
		}
	}
	// Days past the end of a month count on, as in time.Date.
	if got, want := DaysFromCivil(2023, 2, 30), time.Date(2023, 2, 30, 0, 0, 0, 0, time.UTC).Unix()/86400; got != want {
		t.Errorf("DaysFromCivil(2023-02-30) = %d, want %d", got, want)
	}
	// Every 13th day of years 1..9999 agrees with package time, both ways.
	start := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	for day, n := start, DaysFromCivil(1, 1, 1); day.Year() < 10000; day, n = day.Add(13*24*time.Hour), n+13 {
		y, m, d := day.Date()
		if got := DaysFromCivil(y, int(m), d); got != n {
			t.Fatalf("DaysFromCivil(%s) = %d, want %d", day.Format(time.DateOnly), got, n)
		}
		if gy, gm, gd := CivilFromDays(n); gy != y || gm != int(m) || gd != d {
			t.Fatalf("CivilFromDays(%d) = %d-%d-%d, want %s", n, gy, gm, gd, day.Format(time.DateOnly))
		}
		if d == 1 && DaysIn(y, int(m)) != day.AddDate(0, 1, -1).Day() {
			t.Fatalf("DaysIn(%d, %d) = %d", y, m, DaysIn(y, int(m)))
		}
	}
}

func TestDaysIn(t *testing.T) {
	for _, tc := range []struct{ y, m, want int }{
		{2024, 2, 29}, {2023, 2, 28}, {2000, 2, 29}, {1900, 2, 28}, {0, 2, 29}, {-4, 2, 29}, {-100, 2, 28},
		{1, 1, 31}, {9999, 12, 31}, {2023, 4, 30}, {2023, 6, 30}, {2023, 9, 30}, {2023, 11, 30}, {2023, 7, 31},
	} {
		if got := DaysIn(tc.y, tc.m); got != tc.want {
			t.Errorf("DaysIn(%d, %d) = %d, want %d", tc.y, tc.m, got, tc.want)
		}
	}
}
