// A copy button on every code block, [data-copy] buttons that copy an element, and the docs
// menu closed on small screens. No request leaves the page.
(function () {
  function addCopy(pre) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      var text = pre.querySelector("code") ? pre.querySelector("code").innerText : pre.innerText;
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      });
    });
    pre.classList.add("has-copy");
    pre.appendChild(button);
  }
  document.querySelectorAll("pre").forEach(addCopy);
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy"));
      navigator.clipboard.writeText(target.innerText).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
  var menu = document.querySelector(".docs-menu");
  if (menu && window.matchMedia("(max-width: 860px)").matches) menu.open = false;
})();
