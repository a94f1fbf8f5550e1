<?php
/**
 * The seed's helper functions, as its "CodeIgniter Integration" section writes them
 * (application/helpers/ybb_helper.php). Each is copied unchanged except where a comment says.
 */

// Seed, "Basic Setup" step 2: unchanged.
function call_ybb_api($endpoint, $data = null, $method = 'GET') {
    $ci = &get_instance();
    $ci->load->config('ybb_export');
    
    $url = $ci->config->item('ybb_export')['api_url'] . $endpoint;
    
    $curl = curl_init();
    curl_setopt_array($curl, array(
        CURLOPT_URL => $url,
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_TIMEOUT => $ci->config->item('ybb_export')['timeout'],
        CURLOPT_CUSTOMREQUEST => $method,
        CURLOPT_HTTPHEADER => array('Content-Type: application/json')
    ));
    
    if ($data && in_array($method, ['POST', 'PUT'])) {
        curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($data));
    }
    
    $response = curl_exec($curl);
    $http_code = curl_getinfo($curl, CURLINFO_HTTP_CODE);
    curl_close($curl);
    
    return array(
        'success' => $http_code >= 200 && $http_code < 300,
        'data' => json_decode($response, true),
        'http_code' => $http_code
    );
}

// Seed, "CodeIgniter Error Handling". One change: the seed writes `$this->session` inside a
// plain function, which PHP stops with "Using $this when not in object context"; the
// controller's session is reached through get_instance() instead.
function handle_ybb_api_error($result) {
    if (!$result['success']) {
        $error_message = 'Export failed';
        
        if (isset($result['data']['message'])) {
            $error_message = $result['data']['message'];
        }
        
        // Log error
        log_message('error', 'YBB API Error: ' . $error_message);
        
        // Set user message
        get_instance()->session->set_flashdata('error', $error_message);
        
        // Redirect based on error type
        switch ($result['http_code']) {
            case 400:
                redirect('exports/new'); // Bad request - back to form
                break;
            case 404:
                redirect('exports'); // Not found - back to list
                break;
            case 500:
            default:
                redirect('dashboard'); // Server error - safe page
                break;
        }
    }
}

// Seed, "Retry Logic": unchanged. (Note: a refused connection has http_code 0, which is
// "< 500", so this returns at once instead of retrying; the seed's logic, kept as written.)
function call_ybb_api_with_retry($endpoint, $data = null, $method = 'GET', $max_retries = 3) {
    $attempt = 0;
    
    while ($attempt < $max_retries) {
        $result = call_ybb_api($endpoint, $data, $method);
        
        if ($result['success'] || $result['http_code'] < 500) {
            return $result; // Success or client error (don't retry)
        }
        
        $attempt++;
        if ($attempt < $max_retries) {
            sleep(pow(2, $attempt)); // Exponential backoff
        }
    }
    
    return $result; // Return last attempt
}
