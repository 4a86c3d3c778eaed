"""The gallery page's own style and script, and the Content-Security-Policy that allows only
those two (by hash) and `data:` images."""

from __future__ import annotations

import base64
import hashlib

STYLE = """
:root{color-scheme:light dark;--bg:#f6f5f2;--fg:#1d1d1f;--muted:#6b6b70;--card:#fff;--line:#dddbd5;
--ok:#1f7a3a;--failed:#a33;--unknown:#a66a00;--pending:#555}
@media (prefers-color-scheme:dark){:root{--bg:#18181a;--fg:#ececec;--muted:#a0a0a8;--card:#242427;
--line:#38383c;--ok:#6fcf8a;--failed:#ff8a80;--unknown:#ffcc66;--pending:#bbb}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
header{position:sticky;top:0;z-index:1;background:var(--bg);border-bottom:1px solid var(--line);padding:12px 20px}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:24px 0 4px}
.totals{color:var(--muted);margin:0}
.filters{display:flex;gap:8px;margin-top:8px;flex-wrap:wrap}
.filters input,.filters select{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--fg)}
.filters input{flex:1;min-width:200px}
main{padding:0 20px 40px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden;margin:0;
display:flex;flex-direction:column}
.card.failed,.card.unknown,.card.pending{border-style:dashed}
.thumbs{display:flex;flex-wrap:wrap;background:#0001}
.thumbs a{flex:1 1 100%;display:block;aspect-ratio:1/1;overflow:hidden}
.thumbs img{width:100%;height:100%;object-fit:contain;display:block}
.thumbs img[data-state=broken],.none{display:flex;align-items:center;justify-content:center;
aspect-ratio:1/1;color:var(--muted);font-size:13px;text-align:center;padding:8px;width:100%}
figcaption{padding:8px 10px;display:flex;flex-direction:column;gap:4px}
.prompt{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;max-height:8.4em;overflow:auto}
.prompt.absent{color:var(--muted);font-style:italic}
dl{display:grid;grid-template-columns:auto 1fr;gap:0 8px;margin:0;color:var(--muted);font-size:12px}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
.status{font-weight:600}
.status.ok{color:var(--ok)}.status.failed{color:var(--failed)}
.status.unknown{color:var(--unknown)}.status.pending{color:var(--pending)}
.error{color:var(--failed);font-size:12px;margin:0;overflow-wrap:anywhere}
[hidden]{display:none!important}
footer{color:var(--muted);padding:0 20px 20px;font-size:12px}
"""

# Plain JavaScript, no framework. Filtering by text, status and model; thumbnails move from
# data-src to src near the viewport; each image records whether it decoded (data-state), so a
# broken one shows its alt text as a placeholder and a test can count them.
SCRIPT = """
(function(){
"use strict";
var cards=Array.prototype.slice.call(document.querySelectorAll(".card"));
var groups=Array.prototype.slice.call(document.querySelectorAll("section.group"));
var q=document.getElementById("q"),st=document.getElementById("status"),md=document.getElementById("model");
function filter(){
  var text=q.value.trim().toLowerCase(),s=st.value,m=md.value;
  cards.forEach(function(c){
    var hit=(!s||c.dataset.status===s)&&(!m||c.dataset.model===m)&&
      (!text||c.dataset.search.indexOf(text)!==-1);
    c.hidden=!hit;
  });
  groups.forEach(function(g){g.hidden=!g.querySelector(".card:not([hidden])");});
}
[q,st,md].forEach(function(el){el.addEventListener("input",filter);});
function mark(img){
  var done=function(ok){
    img.dataset.state=ok?"ok":"broken";
    img.dataset.naturalWidth=String(img.naturalWidth);
    var n=document.body.dataset;n[ok?"thumbsOk":"thumbsBroken"]=String(Number(n[ok?"thumbsOk":"thumbsBroken"]||0)+1);
  };
  if(img.complete&&img.naturalWidth){done(true);return;}
  img.addEventListener("load",function(){done(img.naturalWidth>0);},{once:true});
  img.addEventListener("error",function(){done(false);},{once:true});
}
function show(img){if(img.dataset.src){img.src=img.dataset.src;delete img.dataset.src;}mark(img);}
var lazy=Array.prototype.slice.call(document.querySelectorAll("img[data-src]"));
Array.prototype.forEach.call(document.querySelectorAll("img:not([data-src])"),mark);
function all(){lazy.forEach(show);lazy=[];}
if(location.hash==="#all"||!("IntersectionObserver" in window)){all();}
else{
  var io=new IntersectionObserver(function(entries){
    entries.forEach(function(e){if(e.isIntersecting){io.unobserve(e.target);show(e.target);}});
  },{rootMargin:"1200px 0px"});
  lazy.forEach(function(img){io.observe(img);});
}
window.addEventListener("beforeprint",all);
window.addEventListener("hashchange",function(){if(location.hash==="#all"){all();}});
document.body.dataset.ready="1";
})();
"""


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; "
    f"style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)}; "
    "base-uri 'none'; form-action 'none'"
)
