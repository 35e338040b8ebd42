"""Who may see which student data, masking (脱敏) and the audit trail (审计), pure parts
(defined in :mod:`eduengine.people.model`, where staff roles, scopes and grants are).

>>> mask_phone("13812341234"), mask_email("alice@example.com"), mask_name("王小明")
('138****1234', 'a***@example.com', '王**')

A masked value never shows the value whole: a value too short to keep a character of,
or one already made of what a mask shows, is hidden entirely, with a mask character
it does not contain.

>>> mask_name("王"), mask_email("alice"), mask_name("a*")
('*', 'a****', '••')
"""

from eduengine.people.model import MASKS as MASKS
from eduengine.people.model import Access as Access
from eduengine.people.model import AccessPolicy as AccessPolicy
from eduengine.people.model import Actor as Actor
from eduengine.people.model import AuditEntry as AuditEntry
from eduengine.people.model import RoleBasedPolicy as RoleBasedPolicy
from eduengine.people.model import mask_email as mask_email
from eduengine.people.model import mask_name as mask_name
from eduengine.people.model import mask_phone as mask_phone
