<?php
/**
 * Runs one of the seed's CodeIgniter snippets against a live service and prints, as one JSON
 * line, what the controller did (redirects, flash messages, logs, output, files saved).
 *
 *   YBB_API_URL=http://127.0.0.1:5000 YBB_RECORDS_FILE=rows.json YBB_OUT_DIR=/tmp/out \
 *     php examples/php/seed/run.php ACTION [ARG]
 *
 * ACTION: health | export_participants | export_payments | export_ambassadors |
 *         download ID | check_export_status ID | error_handling ENDPOINT [METHOD] |
 *         retry ENDPOINT
 * Exit 0 when the snippet ran to its end (a redirect or 404 page is an end); 3 when PHP
 * raised an error (e.g. the answer lacks a field the seed's code reads).
 */
require __DIR__ . '/ci_standin.php';
require __DIR__ . '/ybb_helper.php';
require __DIR__ . '/Export.php';

function records_body() {
    return array('data' => json_decode(file_get_contents(getenv('YBB_RECORDS_FILE')), true));
}

$action = isset($argv[1]) ? $argv[1] : '';
$arg = isset($argv[2]) ? $argv[2] : null;
$controller = new Export();
$result = array('action' => $action);
try {
    try {
        switch ($action) {
            case 'health':
                // The seed's health check (`curl http://localhost:5000/health`) in PHP: the
                // fields of its "Expected Health Response".
                $health = call_ybb_api('/health');
                $body = $health['data'];
                ybb_expect($health['success'] && $body['status'] === 'healthy', 'status healthy');
                foreach (array('timestamp', 'service', 'version') as $key) {
                    ybb_expect(is_string($body[$key]), "{$key} is a string");
                }
                $result['health'] = $body;
                break;
            case 'export_participants':
            case 'export_payments':
            case 'export_ambassadors':
                $controller->$action();
                break;
            case 'download':
                ob_start();
                try {
                    $controller->download($arg);
                } finally {
                    $file = ob_get_clean();
                }
                if ($file !== '') {
                    file_put_contents(getenv('YBB_OUT_DIR') . '/download.bin', $file);
                    $result['downloaded_bytes'] = strlen($file);
                }
                break;
            case 'check_export_status':
                $controller->check_export_status($arg);
                break;
            case 'error_handling':
                // The seed's "Usage" of handle_ybb_api_error.
                $method = isset($argv[3]) ? $argv[3] : 'POST';
                $result_api = call_ybb_api($arg, $method === 'POST' ? records_body() : null, $method);
                if (!$result_api['success']) {
                    handle_ybb_api_error($result_api);
                    break;
                }
                CI::record('success', $result_api['http_code']);
                break;
            case 'retry':
                $started = microtime(true);
                $retried = call_ybb_api_with_retry($arg, records_body(), 'POST');
                ybb_expect(is_int($retried['http_code']), 'http_code is an integer');
                $result['http_code'] = $retried['http_code'];
                $result['success'] = $retried['success'];
                $result['seconds'] = round(microtime(true) - $started, 2);
                break;
            default:
                fwrite(STDERR, "unknown action {$action}\n");
                exit(2);
        }
    } catch (RequestEnded $ended) {
        // redirect() / show_404(): the request ended as CodeIgniter would end it
    }
} catch (Throwable $error) {
    $result['events'] = CI::$events;
    $result['error'] = get_class($error) . ': ' . $error->getMessage();
    echo json_encode($result), "\n";
    exit(3);
}
$result['events'] = CI::$events;
echo json_encode($result), "\n";
