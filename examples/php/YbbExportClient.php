<?php
/**
 * YbbExportClient: a small cURL client for the YBB Export Studio REST API, for CodeIgniter
 * (drop it in application/libraries/) or any PHP 7.4+ code.
 *
 *   $ybb = new YbbExportClient('http://localhost:5000', ['api_key' => getenv('YBB_API_KEY')]);
 *   $result = $ybb->export('participants', $rows, ['template' => 'standard']);
 *   $ybb->download($result['data']['export_id'], '/tmp/participants.xlsx');
 *
 * Retries connection errors and 5xx answers with exponential backoff, honours Retry-After on
 * 429, and sends ONE Idempotency-Key for all attempts of an export, so a retry after a lost
 * response never creates a second export.
 */
class YbbApiException extends RuntimeException
{
    /** @var int */
    public $httpCode;
    /** @var array|null */
    public $body;

    public function __construct($message, $httpCode = 0, $body = null)
    {
        parent::__construct($message, $httpCode);
        $this->httpCode = $httpCode;
        $this->body = $body;
    }
}

class YbbExportClient
{
    private $baseUrl;
    private $apiKey;
    private $timeout;
    private $maxAttempts;
    private $baseDelay;

    /**
     * @param string $baseUrl e.g. http://localhost:5000
     * @param array  $options api_key, timeout (s, default 300), max_attempts (default 4),
     *                        base_delay (s, default 1.0: waits 1, 2, 4 ... between attempts)
     */
    public function __construct($baseUrl, array $options = [])
    {
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->apiKey = isset($options['api_key']) ? (string) $options['api_key'] : '';
        $this->timeout = isset($options['timeout']) ? (int) $options['timeout'] : 300;
        $this->maxAttempts = isset($options['max_attempts']) ? (int) $options['max_attempts'] : 4;
        $this->baseDelay = isset($options['base_delay']) ? (float) $options['base_delay'] : 1.0;
    }

    /** Create an export. $options: template, format, filename, sheet_name, async, ... */
    public function export($type, array $records, array $options = [])
    {
        $body = array_merge($options, ['data' => array_values($records)]);
        $key = isset($options['idempotency_key']) ? $options['idempotency_key'] : self::newKey();
        unset($body['idempotency_key']);
        return $this->requestJson('POST', "/api/ybb/export/{$type}", $body, $key);
    }

    /** The export's status: state (processing|completed|failed), progress, download URLs. */
    public function status($exportId)
    {
        return $this->requestJson('GET', '/api/ybb/export/' . rawurlencode($exportId) . '/status');
    }

    /** Poll status until the export is completed (or failed / timed out). */
    public function waitUntilReady($exportId, $timeoutSeconds = 300, $pollSeconds = 1.0)
    {
        $deadline = microtime(true) + $timeoutSeconds;
        while (true) {
            $status = $this->status($exportId);
            if ($status['state'] === 'completed') {
                return $status;
            }
            if ($status['state'] === 'failed') {
                throw new YbbApiException('Export failed: ' . $status['error'], 500, $status);
            }
            if (microtime(true) > $deadline) {
                throw new YbbApiException("Export {$exportId} still processing after {$timeoutSeconds}s");
            }
            usleep((int) ($pollSeconds * 1000000));
        }
    }

    /**
     * Download the export's file (or ZIP) to $path; $which: 'main', 'zip' or a batch number.
     * Returns the number of bytes written.
     */
    public function download($exportId, $path, $which = 'main')
    {
        $suffix = $which === 'main' ? '/download'
            : ($which === 'zip' ? '/download/zip' : '/download/batch/' . (int) $which);
        $url = '/api/ybb/export/' . rawurlencode($exportId) . $suffix;
        $tmp = $path . '.part';
        $result = $this->send('GET', $url, null, null, $tmp);
        if ($result['code'] !== 200) {
            $body = json_decode((string) @file_get_contents($tmp), true);
            @unlink($tmp);
            throw self::errorFrom($result['code'], $body);
        }
        rename($tmp, $path);  // never leave a half-written file under the real name
        return filesize($path);
    }

    /**
     * Signed, expiring download links to hand to a browser: they work without the API key, for
     * one file each, until they expire (default 15 minutes). Returns the API's `data`:
     * download_url, zip_download_url, individual_files[{batch_number, download_url}],
     * expires_at. The URLs are paths: prefix them with the service's public base URL.
     */
    public function signedLinks($exportId, $ttlSeconds = null)
    {
        $path = '/api/ybb/export/' . rawurlencode($exportId) . '/signed-links';
        $body = $ttlSeconds === null ? null : ['ttl_seconds' => (int) $ttlSeconds];
        $result = $this->requestJson('POST', $path, $body);
        return $result['data'];
    }

    private function requestJson($method, $path, $body = null, $idempotencyKey = null)
    {
        $result = $this->send($method, $path, $body, $idempotencyKey, null);
        $decoded = json_decode($result['body'], true);
        if ($result['code'] >= 200 && $result['code'] < 300 && is_array($decoded)) {
            return $decoded;
        }
        throw self::errorFrom($result['code'], $decoded);
    }

    /** One logical request with retries; returns ['code' => int, 'body' => string]. */
    private function send($method, $path, $body, $idempotencyKey, $saveTo)
    {
        $attempt = 0;
        while (true) {
            $attempt++;
            $result = $this->once($method, $path, $body, $idempotencyKey, $saveTo);
            $retryable = $result['code'] === 0 || $result['code'] >= 500 || $result['code'] === 429;
            if (!$retryable || $attempt >= $this->maxAttempts) {
                if ($result['code'] === 0) {
                    throw new YbbApiException('Cannot reach the YBB export service: ' . $result['error']);
                }
                return $result;
            }
            $delay = $this->baseDelay * pow(2, $attempt - 1);
            if ($result['code'] === 429 && $result['retry_after'] !== null) {
                $delay = max($delay, (float) $result['retry_after']);
            }
            usleep((int) ($delay * 1000000));
        }
    }

    private function once($method, $path, $body, $idempotencyKey, $saveTo)
    {
        $headers = ['Accept: application/json'];
        if ($this->apiKey !== '') {
            $headers[] = 'X-API-Key: ' . $this->apiKey;
        }
        if ($idempotencyKey !== null) {
            $headers[] = 'Idempotency-Key: ' . $idempotencyKey;
        }
        $retryAfter = null;
        $curl = curl_init($this->baseUrl . $path);
        $options = [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_TIMEOUT => $this->timeout,
            CURLOPT_CONNECTTIMEOUT => 10,
            CURLOPT_HEADERFUNCTION => function ($ch, $line) use (&$retryAfter) {
                if (stripos($line, 'Retry-After:') === 0) {
                    $retryAfter = trim(substr($line, 12));
                }
                return strlen($line);
            },
        ];
        if ($body !== null) {
            $headers[] = 'Content-Type: application/json';
            $options[CURLOPT_POSTFIELDS] = json_encode($body);
        }
        $handle = null;
        if ($saveTo !== null) {
            $handle = fopen($saveTo, 'wb');
            $options[CURLOPT_FILE] = $handle;  // stream to disk: big ZIPs never sit in memory
        } else {
            $options[CURLOPT_RETURNTRANSFER] = true;
        }
        $options[CURLOPT_HTTPHEADER] = $headers;
        curl_setopt_array($curl, $options);
        $response = curl_exec($curl);
        $code = (int) curl_getinfo($curl, CURLINFO_HTTP_CODE);
        $error = curl_error($curl);
        curl_close($curl);
        if ($handle !== null) {
            fclose($handle);
        }
        if ($response === false) {
            $code = 0;
        }
        return [
            'code' => $code,
            'body' => is_string($response) ? $response : '',
            'error' => $error,
            'retry_after' => $retryAfter,
        ];
    }

    private static function errorFrom($code, $body)
    {
        $message = is_array($body) && isset($body['message']) ? $body['message'] : "HTTP {$code}";
        return new YbbApiException($message, $code, is_array($body) ? $body : null);
    }

    /** A random Idempotency-Key (letters and digits only, as the API accepts). */
    public static function newKey()
    {
        return 'php-' . bin2hex(random_bytes(16));
    }
}
