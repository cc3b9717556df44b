package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func otlpURL(c OTLPConfig, path string) string {
	return strings.TrimRight(c.Endpoint, "/") + path
}

func newOTLPMetricExporter(ctx context.Context, c OTLPConfig) (sdkmetric.Exporter, error) {
	opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(otlpURL(c, "/v1/metrics")),
		otlpmetrichttp.WithTimeout(c.Timeout)}
	if len(c.Headers) > 0 {
		opts = append(opts, otlpmetrichttp.WithHeaders(c.Headers))
	}
	exp, err := otlpmetrichttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP metric exporter for %s: %w", c.Endpoint, err)
	}
	return exp, nil
}

func newOTLPTraceExporter(ctx context.Context, c OTLPConfig) (sdktrace.SpanExporter, error) {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(otlpURL(c, "/v1/traces")),
		otlptracehttp.WithTimeout(c.Timeout)}
	if len(c.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(c.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP trace exporter for %s: %w", c.Endpoint, err)
	}
	return exp, nil
}
