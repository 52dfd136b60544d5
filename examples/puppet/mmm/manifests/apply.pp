# Converge a MySQL/MariaDB cluster with mmm, from the host that runs mmm
# apply (usually the monitor host). Put this directory (examples/puppet) on
# the modulepath and declare the class, e.g. with the secrets from Hiera
# (eyaml) as Sensitive:
#
#   class { 'mmm::apply':
#     mmm_config  => '/etc/mmm',
#     mmm_secrets => Sensitive({
#       'MMM_ADMIN_PASSWORD'       => lookup('mmm::admin_password'),
#       'MMM_REPLICATION_PASSWORD' => lookup('mmm::replication_password'),
#       ...
#     }),
#   }
#
# Secrets go to a 0600 file mmm reads (--env-file), never to a command line,
# an environment block or the Puppet report (Sensitive, show_diff => false).
#
# `mmm plan --detailed-exitcode` exits 0 when the cluster matches the file,
# 2 when there is something to do and 1 on an error. Drift (2) runs the
# apply; an error (1) is never taken for drift: Exec['mmm plan failed']
# runs the plan again to fail the run with mmm's own message, and the apply
# is skipped. In --noop a drift shows as a pending Exec['mmm apply'], an
# error as a pending Exec['mmm plan failed']. --noop never writes the secrets
# file either: before the first real run has written it, --noop shows that
# error (mmm cannot read the file).
class mmm::apply (
  String $mmm_binary                                       = '/usr/local/bin/mmm',
  String $mmm_config                                       = '/etc/mmm',
  String $mmm_env_file                                     = '/etc/mmm/secrets.env',
  Optional[Sensitive[Hash[String, String]]] $mmm_secrets = undef,
  String $mmm_lock_timeout                                 = '120s',
) {
  if $mmm_secrets != undef {
    # Values are written as is: no newlines in them.
    file { $mmm_env_file:
      ensure    => file,
      mode      => '0600',
      show_diff => false,
      content   => Sensitive($mmm_secrets.unwrap.map |$key, $value| { "${key}=${value}\n" }.sort.join('')),
      before    => Exec['mmm plan failed', 'mmm apply'],
    }
  }

  $mmm = shellquote($mmm_binary)
  $files = "--config ${shellquote($mmm_config)} --env-file ${shellquote($mmm_env_file)}"
  $plan = "${mmm} plan ${files} --detailed-exitcode"

  exec { 'mmm validate':
    command   => "${mmm} validate --config ${shellquote($mmm_config)}",
    unless    => "${mmm} validate --config ${shellquote($mmm_config)}",
    provider  => shell,
    logoutput => on_failure,
  }

  exec { 'mmm plan failed':
    command   => $plan,
    onlyif    => "${plan} >/dev/null 2>&1; [ \$? -eq 1 ]",
    returns   => [0, 2],
    provider  => shell,
    logoutput => true,
    require   => Exec['mmm validate'],
  }

  exec { 'mmm apply':
    command   => "${mmm} apply ${files} --lock-timeout ${shellquote($mmm_lock_timeout)} --auto-approve",
    unless    => "${plan} >/dev/null 2>&1; [ \$? -ne 2 ]",
    provider  => shell,
    logoutput => true,
    timeout   => 0,
    require   => Exec['mmm plan failed'],
  }
}
