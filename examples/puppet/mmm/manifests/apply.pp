# Run mmm apply from Puppet. `mmm plan --detailed-exitcode` exits 0 when the
# cluster already matches the file, 2 when there is something to do, 1 on error;
# so `unless` keeps the exec (and the Puppet report) quiet on a converged cluster.
# Secrets reach mmm through the environment, never through arguments.
class mmm::apply (
  Sensitive[String] $admin_password,
  Sensitive[String] $replication_password,
  Sensitive[String] $monitor_password,
  Sensitive[String] $agent_token,
  Sensitive[String] $monitor_token,
  Sensitive[String] $app_password,
  String $config = '/etc/mmm',
) {
  $env = [
    "MMM_ADMIN_PASSWORD=${admin_password.unwrap}",
    "MMM_REPLICATION_PASSWORD=${replication_password.unwrap}",
    "MMM_MONITOR_PASSWORD=${monitor_password.unwrap}",
    "MMM_AGENT_TOKEN=${agent_token.unwrap}",
    "MMM_MONITOR_TOKEN=${monitor_token.unwrap}",
    "APP_PASSWORD=${app_password.unwrap}",
  ]

  exec { 'mmm validate':
    command => "/usr/local/bin/mmm validate --config ${config}",
    unless  => "/usr/local/bin/mmm validate --config ${config}",
  }

  exec { 'mmm apply':
    command     => "/usr/local/bin/mmm apply --config ${config} --auto-approve",
    unless      => "/usr/local/bin/mmm plan --config ${config} --detailed-exitcode",
    environment => $env,
    logoutput   => true,
    require     => Exec['mmm validate'],
  }
}
