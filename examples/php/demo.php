<?php
/**
 * Demo: export 3 participants, poll the status, download the file, print its size.
 *
 *   php examples/php/demo.php http://127.0.0.1:5000 /tmp/out
 *
 * Set YBB_API_KEY in the environment when the service requires a key.
 */
require __DIR__ . '/YbbExportClient.php';

$baseUrl = isset($argv[1]) ? $argv[1] : 'http://127.0.0.1:5000';
$outDir = isset($argv[2]) ? $argv[2] : sys_get_temp_dir();

$participants = [
    ['id' => 1, 'form_id' => 'YBB2024_001', 'first_name' => 'John', 'last_name' => 'Doe',
     'email' => 'john.doe@example.com', 'phone' => '+1234567890', 'birthdate' => '1995-05-15',
     'nationality' => 'American', 'state' => 'California', 'form_status' => 1, 'is_active' => 1,
     'created_at' => '2024-01-15 10:30:00'],
    ['id' => 2, 'form_id' => 'YBB2024_002', 'first_name' => 'Siti', 'last_name' => 'Rahma',
     'email' => 'siti@example.com', 'phone' => '+62811111111', 'birthdate' => '1998-11-02',
     'nationality' => 'Indonesian', 'state' => 'Jawa Barat', 'form_status' => 2, 'is_active' => 1,
     'created_at' => '2024-01-16 09:00:00'],
    ['id' => 3, 'form_id' => 'YBB2024_003', 'first_name' => 'Zoë', 'last_name' => 'Müller',
     'email' => 'zoe@example.com', 'phone' => '+4915111111', 'birthdate' => '2000-02-29',
     'nationality' => 'German', 'state' => 'Berlin', 'form_status' => 3, 'is_active' => 0,
     'created_at' => '2024-01-17 14:45:00'],
];

try {
    $ybb = new YbbExportClient($baseUrl, ['api_key' => (string) getenv('YBB_API_KEY')]);
    $created = $ybb->export('participants', $participants, [
        'template' => 'standard',
        'format' => 'excel',
        'filename' => 'participants_export.xlsx',
    ]);
    $exportId = $created['data']['export_id'];
    echo "export_id: {$exportId}\n";

    $status = $ybb->waitUntilReady($exportId, 120);
    echo "state: {$status['state']} ({$status['progress']}%), records: {$status['record_count']}\n";

    if (!is_dir($outDir)) {
        mkdir($outDir, 0777, true);
    }
    $target = rtrim($outDir, '/') . '/' . $created['data']['file_name'];
    $bytes = $ybb->download($exportId, $target);
    echo "downloaded: {$target}\n";
    echo "file_size: {$bytes}\n";
    // a link a browser can open without the API key (valid 10 minutes)
    $links = $ybb->signedLinks($exportId, 600);
    echo "signed_link: " . rtrim($baseUrl, '/') . $links['download_url'] . "\n";
    exit(0);
} catch (YbbApiException $e) {
    fwrite(STDERR, "YBB export failed (HTTP {$e->httpCode}): {$e->getMessage()}\n");
    exit(1);
}
