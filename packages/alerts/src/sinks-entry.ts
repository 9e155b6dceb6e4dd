/**
 * @bulwark/alerts/sinks: where alerts go (a JSON-lines file, a stream such
 * as stdout) and the clock reading createAlert needs. Node I/O; importing
 * opens nothing.
 */
export { AlertLog, createStreamSink, measureBootTimeNs, type AlertLogFs, type AlertLogOptions, type AlertStream, type SinkStats, type StreamSink } from './sinks.js';
